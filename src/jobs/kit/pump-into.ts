import type { Readable, Writable } from 'node:stream';
import { waitForDrain } from './wait-for-drain.js';

/** Options of {@link pumpInto}. */
export interface PumpIntoOptions {
  /** Sees each chunk before it is written (to count or inspect it; it must not keep it). */
  onChunk?: (chunk: Buffer) => void;
  /** The error's message when `to` is destroyed before the end. Default: a generic one. */
  closedEarly?: string;
}

/**
 * Copies `from` into `to` with backpressure; resolves at `from`'s end and does not end `to`.
 * Rejects with `to`'s error, or when `to` is destroyed before the end (a tool that closed its
 * input early).
 */
export async function pumpInto(
  from: Readable,
  to: Writable,
  options: PumpIntoOptions = {},
): Promise<void> {
  let toError: unknown;
  const onError = (err: unknown) => {
    toError = err;
  };
  to.on('error', onError);
  try {
    for await (const chunk of from as AsyncIterable<Buffer>) {
      if (toError !== undefined) throw toError;
      options.onChunk?.(chunk);
      if (!to.write(chunk)) await waitForDrain(to);
      if (to.destroyed || toError !== undefined) {
        throw toError ?? new Error(options.closedEarly ?? 'the stream written to closed early');
      }
    }
  } finally {
    to.off('error', onError);
  }
}
