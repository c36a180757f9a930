import { promisify } from 'node:util';
import { constants, zstdCompress, zstdCompressSync } from 'node:zlib';
import { type BlockParallelOptions, BlockParallelTransform } from './block-parallel-transform.js';

const zstdCompressAsync = promisify(zstdCompress) as (
  buffer: Buffer,
  options: Parameters<typeof zstdCompressSync>[1],
) => Promise<Buffer>;

const MiB = 1024 * 1024;
/** The largest buffer zstd writes a block's output into: a level-1 block of log text in one piece. */
const MAX_OUTPUT_CHUNK = 1 * MiB;
/** The smallest: a block that compresses 100:1 (a table of padded rows) fits twice over. */
const MIN_OUTPUT_CHUNK = 64 * 1024;

/** Default input bytes per zstd frame. */
export const ZSTD_BLOCK_SIZE = 4 * MiB;
/** The smallest frame accepted: below it the per-frame setup dominates. */
export const ZSTD_MIN_BLOCK_SIZE = 64 * 1024;

/**
 * The buffer zstd writes a block's output into, given the last block's output size: a little
 * more than that, so a block's output usually fits in one buffer, without a buffer much bigger
 * than it (zlib allocates the whole buffer for each block and copies the output out of it). A
 * fixed 1 MiB cost 1 MiB of allocation per 40 KB frame of a well-compressing dump: 50 MiB of
 * garbage per 200 MB, which V8 frees late (it collects such memory after tens of MiB have piled
 * up), raising the peak RSS by as much.
 */
export function zstdOutputChunk(lastOutput: number): number {
  const wanted = lastOutput + (lastOutput >> 2) + 4096;
  return Math.min(MAX_OUTPUT_CHUNK, Math.max(MIN_OUTPUT_CHUNK, wanted));
}

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
 * that `zstd -d` and this project's `unzstd` decode; the latter decodes such frames in parallel.
 * An empty input gives one empty frame.
 */
export class ParallelZstd extends BlockParallelTransform {
  readonly #params: Record<number, number>;
  /** Output bytes of the last block compressed, to size the next one's output buffer. */
  #lastOutput = MAX_OUTPUT_CHUNK;

  constructor(options: ParallelZstdOptions = {}) {
    super(options, { blockSize: ZSTD_BLOCK_SIZE, minBlockSize: ZSTD_MIN_BLOCK_SIZE });
    this.#params = {
      [constants.ZSTD_c_compressionLevel]: options.level ?? 3,
      [constants.ZSTD_c_checksumFlag]: 1,
    };
  }

  protected override compressBlock(block: Buffer): Promise<Buffer> {
    return zstdCompressAsync(block, {
      chunkSize: zstdOutputChunk(this.#lastOutput),
      params: this.#params,
      // Written into the frame header: decoders size their output from it, and `unzstd`
      // decodes such frames several at once.
      pledgedSrcSize: block.length,
    }).then((output) => {
      this.#lastOutput = output.length;
      return output;
    });
  }

  protected override trailer(): Buffer | undefined {
    // A zero-byte file is not a zstd stream: an empty input still gets a frame.
    return this.blocks === 0
      ? zstdCompressSync(Buffer.alloc(0), { params: this.#params })
      : undefined;
  }
}
