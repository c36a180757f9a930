import { Readable } from 'node:stream';

/**
 * Reads a byte stream into caller-owned part buffers, exactly `buffer.length` bytes at a time
 * (less only at the end). Chunks are copied, never kept: a chunk is often a slice of a pooled
 * slab, and holding it would keep the whole slab alive (sdk #8286).
 */
export class UploadPartReader {
  readonly #source: Readable | AsyncIterable<Uint8Array>;
  readonly #iterator: AsyncIterator<Uint8Array>;
  /** The unread tail of the last chunk taken from the source. */
  #leftover: Uint8Array | undefined;
  #ended = false;
  /** What the source threw, if it did (not an abort of the read). */
  failure: unknown;

  constructor(source: Readable | AsyncIterable<Uint8Array>) {
    this.#source = source;
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /**
   * Fills `buffer` from the source.
   * @returns bytes written into `buffer`: its length, or less when the source ended.
   */
  async fill(buffer: Buffer, signal: AbortSignal): Promise<number> {
    let filled = 0;
    while (filled < buffer.length) {
      const chunk = this.#leftover ?? (await this.#next(signal));
      this.#leftover = undefined;
      if (chunk === undefined) break;
      const n = Math.min(chunk.length, buffer.length - filled);
      buffer.set(n === chunk.length ? chunk : chunk.subarray(0, n), filled);
      filled += n;
      if (n < chunk.length) this.#leftover = chunk.subarray(n);
    }
    return filled;
  }

  /** True when the source has no more bytes (reads ahead one chunk to find out). */
  async atEnd(signal: AbortSignal): Promise<boolean> {
    if (this.#leftover !== undefined) return false;
    this.#leftover = await this.#next(signal);
    return this.#leftover === undefined;
  }

  /** Stops reading: destroys a stream source (which tears down whatever feeds it). */
  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#source instanceof Readable) {
      this.#source.destroy();
    } else {
      void this.#iterator.return?.().catch(() => {});
    }
  }

  async #next(signal: AbortSignal): Promise<Uint8Array | undefined> {
    if (this.#ended) return undefined;
    signal.throwIfAborted();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      for (;;) {
        const r = await Promise.race([
          this.#iterator.next().catch((err: unknown) => {
            this.failure = err;
            throw err;
          }),
          aborted,
        ]);
        if (r.done) {
          this.#ended = true;
          return undefined;
        }
        const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
        if (chunk.length > 0) return chunk;
      }
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }
}
