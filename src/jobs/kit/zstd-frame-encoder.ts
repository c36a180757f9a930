import { constants, ZstdCompress } from 'node:zlib';

/** What Node's zlib streams have kept since before `write()`: one chunk, one flush kind, on the thread pool. */
interface ProcessChunk {
  _processChunk(chunk: Buffer, flushFlag: number, callback: () => void): void;
}

/** The parameters of every frame this project writes: the level, and a content checksum. */
export function zstdFrameParams(level: number): Record<number, number> {
  return {
    [constants.ZSTD_c_compressionLevel]: level,
    [constants.ZSTD_c_checksumFlag]: 1,
  };
}

/**
 * One zstd compression context that turns whole blocks into frames, one after another, on
 * libuv's thread pool: each block goes to zstd in one call that also ends the frame, so zstd
 * knows the block's size and writes it into the frame header (with a checksum), and the next
 * block starts a new frame in the same context.
 *
 * `zlib.zstdCompress()` makes a new context, a zlib stream object and an output buffer per
 * call, and joins its output pieces into one more buffer: about 3 MiB of native memory per
 * 4 MiB block of log text at level 1, where this makes only the output (written into slabs of
 * `chunkSize` that frames share), a third of that. V8 collects on such memory: with the
 * collector tuned for throughput, it ran a full collection per 64 MiB of it.
 */
export class ZstdFrameEncoder {
  readonly #stream: ZstdCompress;
  /** The frame being written: its pieces so far, and what to do once it is whole. */
  #current:
    | {
        pieces: Buffer[];
        written: boolean;
        resolve: (pieces: Buffer[]) => void;
        reject: (err: Error) => void;
      }
    | undefined;
  #failure: Error | undefined;

  /**
   * @param level zstd level (1–22).
   * @param chunkSize bytes of each slab the frames are written into; a frame's output is one
   *   piece when it fits in what is left of the slab, two or more otherwise.
   */
  constructor(level: number, chunkSize: number) {
    this.#stream = new ZstdCompress({ params: zstdFrameParams(level), chunkSize });
    // Flowing: each piece arrives as zlib pushes it, before the write's callback.
    this.#stream.on('data', (piece: Buffer) => {
      this.#current?.pieces.push(piece);
      this.#settle();
    });
    this.#stream.on('error', (err: Error) => {
      this.#failure = err;
      const current = this.#current;
      this.#current = undefined;
      current?.reject(err);
    });
  }

  /** Whether the context failed or was closed: it takes no more blocks. */
  get broken(): boolean {
    return this.#failure !== undefined || this.#stream.destroyed;
  }

  /**
   * Compresses `block` (not empty) into one frame; one block at a time.
   * @returns the frame's pieces in order.
   */
  encode(block: Buffer): Promise<Buffer[]> {
    if (this.#current !== undefined) return Promise.reject(new Error('one block at a time'));
    if (this.broken) {
      return Promise.reject(this.#failure ?? new Error('zstd frame encoder closed'));
    }
    return new Promise<Buffer[]>((resolve, reject) => {
      this.#current = { pieces: [], written: false, resolve, reject };
      (this.#stream as unknown as ProcessChunk)._processChunk(block, constants.ZSTD_e_end, () => {
        if (this.#current === undefined) return;
        this.#current.written = true;
        this.#settle();
      });
    });
  }

  /** Frees the context; a block still on the thread pool finishes there and is dropped. */
  close(): void {
    this.#stream.close();
  }

  /** Hands over the frame once zstd is done with it and every piece has arrived. */
  #settle(): void {
    const current = this.#current;
    if (current === undefined || !current.written || this.#stream.readableLength > 0) return;
    this.#current = undefined;
    current.resolve(current.pieces);
  }
}
