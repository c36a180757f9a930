import { promisify } from 'node:util';
import { constants, deflateRaw, deflateRawSync } from 'node:zlib';
import { crc32 } from '../../transfer/crc32.js';
import { type BlockParallelOptions, BlockParallelTransform } from './block-parallel-transform.js';

const deflateRawAsync = promisify(deflateRaw) as (
  buffer: Buffer,
  options: Parameters<typeof deflateRawSync>[1],
) => Promise<Buffer>;

const MiB = 1024 * 1024;
/** Deflate looks back at most 32 KiB: a block primed with the previous block's last 32 KiB loses no match. */
const WINDOW = 32 * 1024;
/** Size of the buffers deflate writes its output into. */
const OUTPUT_CHUNK = 256 * 1024;
/** The last deflate block: empty, final, fixed Huffman codes. */
const FINAL_EMPTY_BLOCK = deflateRawSync(Buffer.alloc(0));

/** Default input bytes per gzip block. */
export const GZIP_BLOCK_SIZE = MiB;
/** The smallest gzip block accepted: one deflate window. */
export const GZIP_MIN_BLOCK_SIZE = WINDOW;

/** Options of {@link ParallelGzip}. */
export interface ParallelGzipOptions extends BlockParallelOptions {
  /** gzip level 0–9 (default 6). */
  level?: number | undefined;
  /**
   * Bytes of input per block compressed on its own (default 1 MiB, at least 32 KiB). Each
   * block is primed with the previous one's last 32 KiB, so the size costs no ratio beyond a few
   * bytes per block; smaller blocks cost more CPU per byte, bigger ones more memory.
   */
  blockSize?: number | undefined;
}

/**
 * gzip that compresses one stream on several cores, as pigz does: the input is cut into blocks,
 * each block is deflated on libuv's thread pool with the previous block's last 32 KiB as its
 * dictionary (so no match is lost at a boundary) and ends with a sync flush (so the blocks join on
 * byte boundaries), and the blocks are written in order between one gzip header and one trailer
 * whose CRC32 covers the whole input. The output is one ordinary gzip member that any gunzip
 * reads, a few bytes per block larger than a single-threaded stream's.
 */
export class ParallelGzip extends BlockParallelTransform {
  readonly #level: number;
  #dictionary: Buffer | undefined;
  #crc = 0;
  #size = 0;

  constructor(options: ParallelGzipOptions = {}) {
    super(options, { blockSize: GZIP_BLOCK_SIZE, minBlockSize: GZIP_MIN_BLOCK_SIZE });
    this.#level = options.level ?? 6;
  }

  protected override compressBlock(block: Buffer): Promise<Buffer> {
    this.#crc = crc32(block, this.#crc);
    this.#size += block.length;
    const dictionary = this.#dictionary;
    // Its own copy: a subarray would keep the whole block alive.
    this.#dictionary = Buffer.from(block.subarray(Math.max(0, block.length - WINDOW)));
    return deflateRawAsync(block, {
      level: this.#level,
      finishFlush: constants.Z_SYNC_FLUSH,
      // zlib's default 16 KiB output chunks cost a callback on the main thread each; one chunk
      // of the whole block's size costs as much again in allocation. A quarter of a block holds
      // a compressible block's output in one piece.
      chunkSize: OUTPUT_CHUNK,
      ...(dictionary ? { dictionary } : {}),
    });
  }

  /** The 10-byte gzip header. */
  protected override header(): Buffer {
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL OS=3 (Unix), as zlib writes it.
    const xfl = this.#level === 9 ? 2 : this.#level === 1 ? 4 : 0;
    return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
  }

  /** The final empty deflate block, then CRC32 and size modulo 2^32 of the whole input. */
  protected override trailer(): Buffer {
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.#crc >>> 0, 0);
    trailer.writeUInt32LE(this.#size % 2 ** 32, 4);
    return Buffer.concat([FINAL_EMPTY_BLOCK, trailer]);
  }
}
