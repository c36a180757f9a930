import { zstdCompressSync } from 'node:zlib';
import { type BlockParallelOptions, BlockParallelTransform } from './block-parallel-transform.js';
import { ZstdFrameEncoder, zstdFrameParams } from './zstd-frame-encoder.js';

const MiB = 1024 * 1024;

/** Default input bytes per zstd frame. */
export const ZSTD_BLOCK_SIZE = 4 * MiB;
/** The smallest frame accepted: below it the per-frame setup dominates. */
export const ZSTD_MIN_BLOCK_SIZE = 64 * 1024;

/** Options of {@link ParallelZstd}. */
export interface ParallelZstdOptions extends BlockParallelOptions {
  /** zstd level 1–22 (default 3). */
  level?: number | undefined;
  /**
   * Bytes of input per frame, each compressed on its own (default 4 MiB, at least 64 KiB). A
   * frame cannot refer back to the one before it, so the first bytes of each find no earlier
   * match: measured on log text against one single-threaded stream, 4 MiB frames cost +0.1% of
   * output at level 1, +1.6% at level 3, +12% at level 9 (whose window is 4 MiB and more);
   * 16 MiB frames roughly quarter that. Memory grows with it: (concurrency + 1) frames of input.
   */
  blockSize?: number | undefined;
}

/**
 * zstd that compresses one stream on several cores: the input is cut into blocks, each block
 * becomes an independent zstd frame compressed on libuv's thread pool (with its content size
 * and a content checksum, as the `zstd` tool writes them), and the frames are written in order.
 * zstd decoders read concatenated frames as one stream, so the output is an ordinary `.zst` file
 * that `zstd -d` and this project's `unzstd` decode.
 * An empty input gives one empty frame. Each block in flight has a zstd context of its own, kept
 * for the next block ({@link ZstdFrameEncoder}): at most `concurrency` per stream, freed when
 * the stream ends or is destroyed.
 */
export class ParallelZstd extends BlockParallelTransform {
  readonly #level: number;
  /** Contexts not compressing now; at most `concurrency` exist, made as blocks need them. */
  readonly #idle: ZstdFrameEncoder[] = [];
  readonly #all = new Set<ZstdFrameEncoder>();

  constructor(options: ParallelZstdOptions = {}) {
    super(options, { blockSize: ZSTD_BLOCK_SIZE, minBlockSize: ZSTD_MIN_BLOCK_SIZE });
    this.#level = options.level ?? 3;
  }

  protected override compressBlock(block: Buffer): Promise<Buffer> {
    let encoder = this.#idle.pop();
    if (encoder === undefined) {
      encoder = new ZstdFrameEncoder(this.#level, this.blockSize);
      this.#all.add(encoder);
    }
    const used = encoder;
    return used.encode(block).then(
      (frame) => {
        this.#giveBack(used);
        return frame;
      },
      (err: unknown) => {
        this.#giveBack(used);
        throw err;
      },
    );
  }

  protected override trailer(): Buffer | undefined {
    // A zero-byte file is not a zstd stream: an empty input still gets a frame.
    return this.blocks === 0
      ? zstdCompressSync(Buffer.alloc(0), { params: zstdFrameParams(this.#level) })
      : undefined;
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    // After the end as after a failure: every context is freed (one still compressing finishes
    // its block on the thread pool first).
    for (const encoder of this.#all) encoder.close();
    this.#all.clear();
    this.#idle.length = 0;
    super._destroy(err, done);
  }

  #giveBack(encoder: ZstdFrameEncoder): void {
    if (!this.#all.has(encoder)) return;
    if (encoder.broken) {
      encoder.close();
      this.#all.delete(encoder);
    } else {
      this.#idle.push(encoder);
    }
  }
}
