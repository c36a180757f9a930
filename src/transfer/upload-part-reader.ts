import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { type ChunkGarbage, chunkGarbage } from './chunk-garbage.js';

/**
 * An open file to upload, read from its start straight into the part buffers: no buffer of its
 * own per read, where a file stream allocates 64 KiB per read that the garbage collector frees
 * late. The caller opens it and closes it after the upload.
 */
export interface UploadFileBody {
  readonly file: FileHandle;
}

/** What an upload reads from. */
export type UploadBody = Readable | AsyncIterable<Uint8Array> | UploadFileBody;

function isFileBody(body: UploadBody): body is UploadFileBody {
  return 'file' in body && typeof (body as UploadFileBody).file?.read === 'function';
}

/**
 * Reads a byte stream (or a file) into caller-owned part buffers, exactly `buffer.length` bytes
 * at a time (less only at the end). Chunks are copied, never kept: a chunk is often a slice of
 * a pooled slab, and holding it would keep the whole slab alive (sdk #8286).
 */
export class UploadPartReader {
  readonly #source: Readable | AsyncIterable<Uint8Array> | undefined;
  readonly #iterator: AsyncIterator<Uint8Array> | undefined;
  /** A file body, read at `#position`. */
  readonly #file: FileHandle | undefined;
  #position = 0;
  /** The unread tail of the last chunk taken from the source. */
  #leftover: Uint8Array | undefined;
  #ended = false;
  /** Told of the chunk bytes copied and dropped, so that they are collected while young. */
  readonly #garbage: ChunkGarbage;
  /** What the source threw, if it did (not an abort of the read). */
  failure: unknown;

  constructor(source: UploadBody, garbage: ChunkGarbage = chunkGarbage) {
    this.#garbage = garbage;
    if (isFileBody(source)) {
      this.#file = source.file;
    } else {
      this.#source = source;
      this.#iterator = source[Symbol.asyncIterator]();
    }
  }

  /**
   * Fills `buffer` from the source.
   * @returns bytes written into `buffer`: its length, or less when the source ended.
   */
  async fill(buffer: Buffer, signal: AbortSignal): Promise<number> {
    if (this.#file !== undefined) return this.#fillFromFile(buffer, signal);
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
    this.#garbage.copied(filled);
    return filled;
  }

  /** True when the source has no more bytes (reads ahead one chunk, or a file's next byte, to find out). */
  async atEnd(signal: AbortSignal): Promise<boolean> {
    if (this.#leftover !== undefined) return false;
    this.#leftover =
      this.#file !== undefined ? await this.#peekFile(signal) : await this.#next(signal);
    return this.#leftover === undefined;
  }

  /** Stops reading: destroys a stream source (which tears down whatever feeds it); a file stays open (its caller closes it). */
  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#source instanceof Readable) {
      this.#source.destroy();
    } else {
      void this.#iterator?.return?.().catch(() => {});
    }
  }

  async #fillFromFile(buffer: Buffer, signal: AbortSignal): Promise<number> {
    let filled = 0;
    if (this.#leftover !== undefined) {
      buffer.set(this.#leftover);
      filled = this.#leftover.length;
      this.#leftover = undefined;
    }
    while (filled < buffer.length && !this.#ended) {
      const n = await this.#readFile(buffer, filled, buffer.length - filled, signal);
      if (n === 0) this.#ended = true;
      filled += n;
    }
    return filled;
  }

  /** The file's next byte (a buffer of one), or undefined at its end. */
  async #peekFile(signal: AbortSignal): Promise<Uint8Array | undefined> {
    if (this.#ended) return undefined;
    const one = Buffer.alloc(1);
    if ((await this.#readFile(one, 0, 1, signal)) === 1) return one;
    this.#ended = true;
    return undefined;
  }

  async #readFile(
    buffer: Buffer,
    offset: number,
    length: number,
    signal: AbortSignal,
  ): Promise<number> {
    signal.throwIfAborted();
    try {
      const { bytesRead } = await this.#file!.read(buffer, offset, length, this.#position);
      this.#position += bytesRead;
      return bytesRead;
    } catch (err) {
      this.failure = err;
      throw err;
    }
  }

  async #next(signal: AbortSignal): Promise<Uint8Array | undefined> {
    if (this.#ended || this.#iterator === undefined) return undefined;
    signal.throwIfAborted();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      for (;;) {
        const r = await Promise.race([
          this.#iterator!.next().catch((err: unknown) => {
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
