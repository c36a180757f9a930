import { Transform, type TransformCallback } from 'node:stream';
import type { ByteBudget } from '../../transfer/byte-budget.js';
import { ChunkGarbage } from '../../transfer/chunk-garbage.js';
import { cpuQuota } from './cpu-quota.js';
import { OrderedBlocks } from './ordered-blocks.js';

/** libuv's thread pool size when `UV_THREADPOOL_SIZE` is not set. */
const LIBUV_DEFAULT_POOL = 4;

/**
 * Threads in libuv's pool, where zlib and zstd run: `UV_THREADPOOL_SIZE` as libuv reads it
 * (1–1024), else 4. Blocks submitted beyond it only queue (and hold memory).
 */
export function threadPoolSize(): number {
  const n = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10);
  return Number.isFinite(n) && n > 0 ? Math.min(n, 1024) : LIBUV_DEFAULT_POOL;
}

/**
 * Blocks a parallel codec keeps in flight by default: the container's CPU quota
 * ({@link cpuQuota}), at least 2 (one block compresses while the next fills), at most the
 * thread pool's size ({@link threadPoolSize}).
 */
export function defaultCodecConcurrency(): number {
  return Math.min(Math.max(cpuQuota(), 2), threadPoolSize());
}

const MiB = 1024 * 1024;

/**
 * Counts the input chunks the block codecs copy into their blocks: a young-generation collection
 * per 16 MiB of them (the upload's is per 8 MiB, see {@link ChunkGarbage}). Measured on zstd -1
 * of 1 GiB of log text, MinIO to MinIO, interleaved runs of the bin: without it 5.42-5.68 CPU s
 * and 29 full collections; every 8 MiB 4.80-5.24 and 13; every 16 MiB 4.49-4.76 and 7; every
 * 32 MiB 5.19-5.67. Collected more often, the blocks and the ranges read ahead, alive for a few
 * MiB of the stream, are promoted and freed only by full collections; less often, the dead
 * chunks' memory starts them.
 */
const blockChunkGarbage = new ChunkGarbage({ every: 16 * MiB });

/** Options every block-parallel codec takes. */
export interface BlockParallelOptions {
  /**
   * Bytes of input per block, each compressed on its own. Bigger blocks cost memory (see
   * `concurrency`) and lose a little less ratio at each block boundary; smaller ones cost more
   * CPU per byte. Default: the codec's.
   */
  blockSize?: number | undefined;
  /**
   * Blocks compressed at once on libuv's thread pool. Memory held by the stage is at most
   * (concurrency + 1) input blocks plus concurrency compressed blocks. Default
   * {@link defaultCodecConcurrency}: the container's CPU quota, 2 to `UV_THREADPOOL_SIZE` (4).
   */
  concurrency?: number | undefined;
  /**
   * A byte budget to hold each block in flight against (twice the block's size: its input and
   * at most as much output), so the stage's memory counts with the run's other buffers. When the
   * budget is short the stage first finishes its own blocks, then waits in line with nothing
   * held (and is let through when the budget stalls, see `AcquireOptions.holdsNothing`). Cost:
   * under pressure, fewer blocks in flight. Default: none; memory is bounded by `concurrency`
   * alone.
   */
  budget?: ByteBudget | undefined;
  /**
   * Counts the input chunks copied into blocks, so the young generation is collected while
   * they are young (see {@link ChunkGarbage}). Default: one the block codecs share, collecting
   * every 16 MiB.
   */
  garbage?: ChunkGarbage | undefined;
}

/**
 * A Transform that cuts its input into blocks of `blockSize`, compresses up to `concurrency`
 * of them at once (each on libuv's thread pool), and writes the results in input order between
 * an optional header and trailer. Subclasses say how one block is compressed; `compressBlock`
 * is called once per block, in input order, so it may carry state from block to block (a
 * running CRC, the previous block's tail as a dictionary).
 *
 * Memory: at most (concurrency + 1) × blockSize of input and concurrency compressed blocks, plus
 * the stream buffers either side (Node's Transform stops asking for input while its output
 * buffer is full).
 */
export abstract class BlockParallelTransform extends Transform {
  /** Bytes of input per block. */
  readonly blockSize: number;
  /** Blocks compressed at once. */
  readonly concurrency: number;
  readonly #blocks: OrderedBlocks;
  /** The input's chunks die once copied into a block: counted here. */
  readonly #garbage: ChunkGarbage;
  /** The block being filled (`#filled` bytes so far), or none before the first byte of it. */
  #block: Buffer | undefined;
  #filled = 0;
  /**
   * Block buffers whose compression has finished, to fill again: a fresh 4 MiB buffer per block
   * costs a page fault per 4 KiB on first touch and garbage collection later.
   */
  readonly #spare: Buffer[] = [];
  #started = false;
  /** Blocks handed to `compressBlock` so far. */
  protected blocks = 0;

  /**
   * @param options the codec's options.
   * @param defaults `blockSize` when none is given, and the smallest block accepted.
   */
  constructor(
    options: BlockParallelOptions,
    defaults: { blockSize: number; minBlockSize: number },
  ) {
    super();
    this.blockSize = Math.max(options.blockSize ?? defaults.blockSize, defaults.minBlockSize);
    this.concurrency = Math.max(1, options.concurrency ?? defaultCodecConcurrency());
    this.#garbage = options.garbage ?? blockChunkGarbage;
    this.#blocks = new OrderedBlocks({
      concurrency: this.concurrency,
      budget: options.budget,
      emit: (output) => this.push(output),
    });
  }

  /** Compresses one block; called in input order. The promise may settle in any order. */
  protected abstract compressBlock(block: Buffer): Promise<Buffer>;

  /** Bytes written before the first block (a gzip header). Default: none. */
  protected header(): Buffer | undefined {
    return undefined;
  }

  /** Bytes written after the last block (a gzip trailer); called once, at the end. Default: none. */
  protected trailer(): Buffer | undefined {
    return undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#start();
    this.#block ??= this.#spare.pop() ?? Buffer.allocUnsafeSlow(this.blockSize);
    if (this.#filled + chunk.length < this.blockSize) {
      // Copied once, into the block: no chunk of the source is kept alive.
      this.#filled += chunk.copy(this.#block, this.#filled);
      this.#garbage.copied(chunk.length);
      done();
      return;
    }
    this.#fill(chunk).then(() => done(), done);
  }

  /** Fills blocks from `chunk`, submitting each full one; the rest starts the next block. */
  async #fill(chunk: Buffer): Promise<void> {
    let at = 0;
    this.#garbage.copied(chunk.length);
    while (at < chunk.length) {
      this.#block ??= this.#spare.pop() ?? Buffer.allocUnsafeSlow(this.blockSize);
      const copied = chunk.copy(this.#block, this.#filled, at);
      at += copied;
      this.#filled += copied;
      if (this.#filled === this.blockSize) await this.#submit(this.#takeBlock());
    }
  }

  override _flush(done: TransformCallback): void {
    this.#start();
    (async () => {
      if (this.#filled > 0) await this.#submit(this.#takeBlock());
      await this.#blocks.drain();
      const trailer = this.trailer();
      if (trailer) this.push(trailer);
    })().then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    // Blocks still on the thread pool finish there; their results (or errors) are dropped.
    this.#blocks.abandon();
    this.#block = undefined;
    this.#spare.length = 0;
    done(err);
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    const header = this.header();
    if (header) this.push(header);
  }

  /** The block filled so far (the whole buffer, or its filled start for the last block). */
  #takeBlock(): Buffer {
    const block = this.#block!.subarray(0, this.#filled);
    this.#block = undefined;
    this.#filled = 0;
    return block;
  }

  /** Starts compressing `block` once a slot is free (see `OrderedBlocks.submit`). */
  async #submit(block: Buffer): Promise<void> {
    // Its input and at most about as much output.
    await this.#blocks.submit(2 * block.length, () => {
      this.blocks += 1;
      const result = this.compressBlock(block);
      // Once the thread pool is done with the block, its buffer can take the next block's bytes.
      const reuse = () => {
        if (block.length === this.blockSize && !this.destroyed) this.#spare.push(block);
      };
      result.then(reuse, () => {});
      return result;
    });
  }
}
