import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import { promisify } from 'node:util';
import {
  createZstdDecompress,
  type ZstdDecompress,
  type ZstdOptions,
  zstdDecompress,
} from 'node:zlib';
import type { ByteBudget } from '../../transfer/byte-budget.js';
import { defaultCodecConcurrency } from './block-parallel-transform.js';
import { CorruptInputError } from './corrupt-input-error.js';
import { OrderedBlocks } from './ordered-blocks.js';
import { waitForDrain } from './wait-for-drain.js';
import {
  FrameEndFinder,
  type FrameHeader,
  MAX_FRAME_HEADER,
  parseFrameHeader,
} from './zstd-frames.js';

const zstdDecompressAsync = promisify(zstdDecompress) as (
  buffer: Buffer,
  options: { chunkSize: number; maxOutputLength: number },
) => Promise<Buffer>;

const MiB = 1024 * 1024;
/** Output buffers of the streaming decoder: fewer main-thread callbacks than zlib's 16 KiB. */
const STREAM_CHUNK = 256 * 1024;
/**
 * Bytes the stage and its decoder may hold ahead, each side: compressed bytes queued for the
 * decoder, and decoded bytes waiting for the reader. Streams' default of 16 KiB made every 64 KiB
 * network chunk wait for the decoder to drain and every decoded buffer stop it until read, a
 * trip through the main thread each time. Measured on unzstd of 1 GiB of log text in 4 MiB
 * frames, MinIO to MinIO, six interleaved pairs: median 3.24 CPU s and 3.74 s wall against 3.53
 * and 4.10; 4 MiB measured no better than 1 MiB.
 */
const AHEAD = 1024 * 1024;
/** zlib's smallest output buffer. */
const MIN_CHUNK = 64;

/**
 * Default largest frame decoded whole (see `ParallelUnzstdOptions.maxWholeFrame`): none, every
 * frame streams. Measured on these 2 cores (1 GiB of log text in 4 MiB frames, unzstd from
 * MinIO to MinIO, three interleaved runs each): streamed, 3.46–3.61 CPU s and 221–224 MiB peak
 * RSS; decoded whole with 16 MiB here, 3.84–4.00 CPU s and 257–262 MiB, for the same wall time.
 * The decoder costs about 1.1 CPU s per GiB, a quarter of the run; the whole frames' 4 MiB output
 * buffers, each new and alive until its turn, cost more in the collector than the parallel
 * decoding saved.
 */
export const UNZSTD_MAX_WHOLE_FRAME = 0;

/** Options of {@link ParallelUnzstd}. */
export interface ParallelUnzstdOptions {
  /**
   * Frames decoded at once. Default: the container's CPU quota, 2 to `UV_THREADPOOL_SIZE` (4);
   * see `defaultCodecConcurrency`.
   */
  concurrency?: number | undefined;
  /**
   * A frame whose header says it decodes to at most this many bytes is read whole and decoded
   * on the thread pool beside the frames around it; a bigger frame, or one whose header does not
   * say, is streamed through one decoder. Memory: up to `concurrency` such frames, compressed and
   * decoded. Default 0: every frame streams (see `UNZSTD_MAX_WHOLE_FRAME` for the measurement);
   * worth setting (this project's zstd writes 4 MiB frames) only where the decoder, not the
   * cores or the network, bounds the run.
   */
  maxWholeFrame?: number | undefined;
  /**
   * A byte budget each frame decoded whole is held against (its compressed and decoded size)
   * until its output is written. Default: none.
   */
  budget?: ByteBudget | undefined;
}

/** The frame being read. */
interface Frame {
  finder: FrameEndFinder;
  mode: 'skip' | 'whole' | 'stream';
  /** Decoded size from the header (whole frames). */
  contentSize: number;
  /** Compressed bytes so far (whole frames). */
  parts: Buffer[];
  bytes: number;
  /** Offset of the frame's first byte in the input. */
  start: number;
}

/**
 * zstd decompression that reads every frame of the input, not only the first, each through a
 * streaming decoder of its own, in order. Frames of known size up to `maxWholeFrame` (none by
 * default) are instead decoded whole, several at once, on libuv's thread pool. Skippable frames
 * are passed over. An empty input, bytes that are not a frame, or an
 * input that ends inside a frame fail the stream with {@link CorruptInputError}, as `zstd -d`
 * refuses them; each frame's checksum, when present, is verified.
 *
 * Node's own zstd stream stops at the end of the first frame when the next one arrives in the
 * same chunk, which silently drops the rest of a multi-frame file; this stage hands each frame
 * to a decoder on its own.
 */
export class ParallelUnzstd extends Transform {
  readonly #maxWhole: number;
  readonly #blocks: OrderedBlocks;
  /** Bytes of the next frame's header, when a chunk ended inside it. */
  #head: Buffer | undefined;
  #frame: Frame | undefined;
  #frames = 0;
  /** Input bytes handed to frames so far. */
  #offset = 0;
  #inner: ZstdDecompress | undefined;
  #innerEnded: Promise<void> | undefined;

  constructor(options: ParallelUnzstdOptions = {}) {
    super({ readableHighWaterMark: AHEAD });
    this.#maxWhole = options.maxWholeFrame ?? UNZSTD_MAX_WHOLE_FRAME;
    this.#blocks = new OrderedBlocks({
      concurrency: options.concurrency ?? defaultCodecConcurrency(),
      budget: options.budget,
      emit: (output) => this.push(output),
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#input(chunk).then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    (async () => {
      if (this.#frame !== undefined || this.#head !== undefined) {
        throw new CorruptInputError(
          'zstd',
          'the input ends inside a frame (cut short?)',
          this.#offset,
        );
      }
      if (this.#frames === 0) throw new CorruptInputError('zstd', 'the input is empty', 0);
      await this.#blocks.drain();
    })().then(() => done(), done);
  }

  override _read(size: number): void {
    // The streaming decoder was paused because this stream's buffer was full.
    this.#inner?.resume();
    super._read(size);
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    this.#blocks.abandon();
    this.#inner?.destroy();
    done(err);
  }

  async #input(chunk: Buffer): Promise<void> {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.#frame === undefined) {
        const bytes = this.#head ? Buffer.concat([this.#head, rest]) : rest;
        const header = this.#parseHeader(bytes);
        if (header === undefined) {
          // Fewer than MAX_FRAME_HEADER bytes: copied, so no chunk is kept alive for them.
          this.#head = Buffer.from(bytes.subarray(0, MAX_FRAME_HEADER));
          return;
        }
        this.#head = undefined;
        rest = bytes;
        this.#startFrame(header);
      }
      const frame = this.#frame!;
      let fed: ReturnType<FrameEndFinder['feed']>;
      try {
        fed = frame.finder.feed(rest);
      } catch (err) {
        throw new CorruptInputError('zstd', (err as Error).message, this.#offset, err);
      }
      const piece = rest.subarray(0, fed.consumed);
      rest = rest.subarray(fed.consumed);
      this.#offset += piece.length;
      if (fed.done) this.#frame = undefined;
      await this.#frameBytes(frame, piece, fed.done);
    }
  }

  #parseHeader(bytes: Buffer): FrameHeader | undefined {
    try {
      return parseFrameHeader(bytes);
    } catch (err) {
      const where = this.#frames === 0 ? '' : ' after the last frame';
      throw new CorruptInputError('zstd', `${(err as Error).message}${where}`, this.#offset, err);
    }
  }

  #startFrame(header: FrameHeader): void {
    this.#frames += 1;
    const whole =
      header.kind === 'zstd' &&
      header.contentSize !== undefined &&
      header.contentSize <= this.#maxWhole;
    this.#frame = {
      finder: new FrameEndFinder(header),
      mode: header.kind === 'skippable' ? 'skip' : whole ? 'whole' : 'stream',
      contentSize: header.kind === 'zstd' ? (header.contentSize ?? 0) : 0,
      parts: [],
      bytes: 0,
      start: this.#offset,
    };
  }

  async #frameBytes(frame: Frame, piece: Buffer, done: boolean): Promise<void> {
    if (frame.mode === 'skip') return;
    if (frame.mode === 'stream') {
      await this.#stream(frame, piece, done);
      return;
    }
    frame.parts.push(piece);
    frame.bytes += piece.length;
    if (done) {
      await this.#decodeWhole(frame);
    } else if (frame.bytes > 2 * this.#maxWhole + MiB) {
      // More compressed bytes than such a frame can hold: let the decoder say what is wrong.
      frame.mode = 'stream';
      const held = Buffer.concat(frame.parts, frame.bytes);
      frame.parts = [];
      await this.#stream(frame, held, false);
    }
  }

  /** Decodes a whole frame on the thread pool, beside the frames before and after it. */
  async #decodeWhole(frame: Frame): Promise<void> {
    const compressed = Buffer.concat(frame.parts, frame.bytes);
    frame.parts = [];
    const size = frame.contentSize;
    await this.#blocks.submit(compressed.length + size, () =>
      zstdDecompressAsync(compressed, {
        // One output buffer of the frame's size: one trip to the thread pool.
        chunkSize: Math.max(size, MIN_CHUNK),
        maxOutputLength: Math.max(size, 1),
      }).catch((err: unknown) => {
        throw new CorruptInputError('zstd', (err as Error).message, frame.start, err);
      }),
    );
  }

  /** Feeds a frame's bytes to the streaming decoder; at the frame's end, waits for all its output. */
  async #stream(frame: Frame, piece: Buffer, done: boolean): Promise<void> {
    if (this.#inner === undefined) {
      // The frames decoded whole before this one come out first.
      await this.#blocks.drain();
      this.#openInner(frame.start);
    }
    const inner = this.#inner!;
    const ended = this.#innerEnded!;
    if (piece.length > 0 && !inner.write(piece)) {
      // A decoder that failed rejects `ended` with the error named for this input.
      await waitForDrain(inner).catch(() => ended);
      if (inner.errored) await ended;
    }
    if (done) {
      inner.end();
      await ended;
      this.#inner = undefined;
      this.#innerEnded = undefined;
    }
  }

  #openInner(start: number): void {
    // zlib's streams take the stream options too (their types leave them out).
    const options: ZstdOptions & TransformOptions = {
      chunkSize: STREAM_CHUNK,
      writableHighWaterMark: AHEAD,
    };
    const inner = createZstdDecompress(options);
    inner.on('data', (chunk: Buffer) => {
      // Decoded bytes can outgrow their input a thousandfold: stop the decoder while this
      // stream's reader is behind (resumed in _read).
      if (!this.push(chunk)) inner.pause();
    });
    this.#innerEnded = new Promise<void>((resolve, reject) => {
      inner.once('end', resolve);
      inner.once('error', (err) => reject(new CorruptInputError('zstd', err.message, start, err)));
    });
    this.#innerEnded.catch(() => {});
    this.#inner = inner;
  }
}
