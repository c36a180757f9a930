import type { Readable } from 'node:stream';
import { ABORTED, untilAborted } from '../../until-aborted.js';
import { countLines, LineSplitter } from './line-splitter.js';
import type { SourceEvent } from './source-event.js';

/**
 * Lines of a stream (standard input with `--path -`), pulled as the consumer asks, so a paused
 * consumer leaves the bytes in the pipe and the writer blocks. Ends at the end of the stream or
 * when `stop` aborts; either way a last line without a newline is handed on with one added.
 * There is no position to resume from: what the pipe held when the process died is gone.
 */
export async function* stdinEvents(
  input: Readable,
  stop: AbortSignal,
  maxLineBytes: number,
): AsyncGenerator<SourceEvent> {
  const splitter = new LineSplitter(maxLineBytes);
  const chunks = input.iterator({ destroyOnReturn: false })[Symbol.asyncIterator]();
  for (;;) {
    // Not Promise.race with a promise of the stop: each call would leave a reaction on it
    // holding the chunk read, so every chunk of the input would stay in memory.
    const next = await untilAborted(chunks.next(), stop);
    if (next === ABORTED || next.done) break;
    const data = splitter.push(toBuffer(next.value));
    if (data) yield { kind: 'lines', data, lines: countLines(data), path: '-' };
  }
  const rest = splitter.flush();
  if (rest) yield { kind: 'lines', data: rest, lines: 1, path: '-' };
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk);
  return Buffer.from(chunk as Uint8Array);
}
