import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import { constants, crc32, deflateRaw, deflateRawSync } from 'node:zlib';

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

/** Options of {@link ParallelGzip}. */
export interface ParallelGzipOptions {
  /** gzip level 0–9 (default 6). */
  level?: number;
  /** Bytes of input per block compressed on its own (default 1 MiB). */
  blockSize?: number;
  /** Blocks compressed at once on libuv's thread pool (default: the cores available, at least 2). */
  concurrency?: number;
}

/**
 * gzip that compresses one stream on several cores, as pigz does: the input is cut into blocks,
 * each block is deflated on libuv's thread pool with the previous block's last 32 KiB as its
 * dictionary (so no match is lost at a boundary) and ends with a sync flush (so the blocks join on
 * byte boundaries), and the blocks are written in order between one gzip header and one trailer
 * whose CRC32 covers the whole input. The output is one ordinary gzip member that any gunzip
 * reads, a few bytes per block larger than a single-threaded stream's.
 */
export class ParallelGzip extends Transform {
  readonly #level: number;
  readonly #blockSize: number;
  readonly #concurrency: number;
  /** Blocks being deflated, oldest first; each settles to its compressed bytes. */
  readonly #pending: Array<Promise<Buffer>> = [];
  /** Input not yet in a block: chunks as they came, `#filled` bytes in all. */
  #chunks: Buffer[] = [];
  #filled = 0;
  #dictionary: Buffer | undefined;
  #crc = 0;
  #size = 0;
  #headerSent = false;

  constructor(options: ParallelGzipOptions = {}) {
    super();
    this.#level = options.level ?? 6;
    this.#blockSize = Math.max(options.blockSize ?? MiB, WINDOW);
    this.#concurrency = Math.max(options.concurrency ?? availableParallelism(), 2);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#header();
    this.#chunks.push(chunk);
    this.#filled += chunk.length;
    if (this.#filled < this.#blockSize) {
      done();
      return;
    }
    this.#submitFullBlocks().then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    this.#header();
    const last = this.#filled > 0 ? this.#submit(this.#takeBlock()) : Promise.resolve();
    last
      .then(async () => {
        while (this.#pending.length > 0) this.push(await this.#pending.shift());
        const trailer = Buffer.alloc(8);
        trailer.writeUInt32LE(this.#crc >>> 0, 0);
        trailer.writeUInt32LE(this.#size % 2 ** 32, 4);
        this.push(Buffer.concat([FINAL_EMPTY_BLOCK, trailer]));
        done();
      })
      .catch(done);
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    // Blocks still on the thread pool finish there; their results (or errors) are dropped.
    for (const p of this.#pending.splice(0)) p.catch(() => {});
    done(err);
  }

  /** Cuts what came in into blocks of `blockSize` (copied once, into a buffer of their own) and submits them; the rest waits. */
  async #submitFullBlocks(): Promise<void> {
    const input = Buffer.concat(this.#chunks, this.#filled);
    let offset = 0;
    while (input.length - offset >= this.#blockSize) {
      await this.#submit(input.subarray(offset, offset + this.#blockSize));
      offset += this.#blockSize;
    }
    this.#chunks = offset < input.length ? [input.subarray(offset)] : [];
    this.#filled = input.length - offset;
  }

  #takeBlock(): Buffer {
    const block = Buffer.concat(this.#chunks, this.#filled);
    this.#chunks = [];
    this.#filled = 0;
    return block;
  }

  /** Starts deflating `block`, after waiting for the oldest when `concurrency` are in flight. */
  async #submit(block: Buffer): Promise<void> {
    while (this.#pending.length >= this.#concurrency) {
      this.push(await this.#pending.shift());
    }
    this.#crc = crc32(block, this.#crc);
    this.#size += block.length;
    const dictionary = this.#dictionary;
    // Its own copy: a subarray would keep the whole block alive.
    this.#dictionary = Buffer.from(block.subarray(Math.max(0, block.length - WINDOW)));
    const compressed = deflateRawAsync(block, {
      level: this.#level,
      finishFlush: constants.Z_SYNC_FLUSH,
      // zlib's default 16 KiB output chunks cost a callback on the main thread each; one chunk
      // of the whole block's size costs as much again in allocation. A quarter of a block holds
      // a compressible block's output in one piece.
      chunkSize: OUTPUT_CHUNK,
      ...(dictionary ? { dictionary } : {}),
    });
    // Awaited later, in order; until then an error must not count as unhandled.
    compressed.catch(() => {});
    this.#pending.push(compressed);
  }

  /** The 10-byte gzip header, once, before anything else. */
  #header(): void {
    if (this.#headerSent) return;
    this.#headerSent = true;
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL OS=3 (Unix), as zlib writes it.
    const xfl = this.#level === 9 ? 2 : this.#level === 1 ? 4 : 0;
    this.push(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]));
  }
}
