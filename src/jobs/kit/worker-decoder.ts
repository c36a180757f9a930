import { Duplex } from 'node:stream';
import {
  type DecodeChannel,
  type DecodeCodec,
  type DecodeReply,
  type DecodeWorkerPool,
  sharedDecodeWorkerPool,
} from './decode-worker-pool.js';

const KiB = 1024;
/** Compressed bytes gathered before they go to the worker in one message (about 1 MiB decoded). */
const INPUT_BATCH = 256 * KiB;
/** A batch goes early, at this size, when the worker has nothing else to read. */
const INPUT_EARLY = 32 * KiB;
/** Compressed bytes sent and not yet read by the worker, above which writes wait. */
const INPUT_IN_FLIGHT = 2 * INPUT_BATCH;
/** Bytes of each buffer lent to the worker to decode into. */
const OUTPUT_SIZE = 1024 * KiB;
/** Decoded buffers the worker may fill ahead of this stream's reader. */
const OUTPUT_CREDITS = 2;
/** Output shorter than this is copied out, and its buffer lent again. */
const COPY_BELOW = OUTPUT_SIZE / 4;

/** Options of {@link WorkerDecoder}. */
export interface WorkerDecoderOptions {
  /** The threads to decode on. Default: the process's pool (`sharedDecodeWorkerPool()`). */
  pool?: DecodeWorkerPool | undefined;
}

/**
 * A gzip or zstd decoding stream whose decoding runs on a worker thread (see `decode-worker.ts`):
 * one long-lived native context per stream, a synchronous decode loop, decoded bytes handed back
 * in 1 MiB buffers without a copy. The main thread does one copy of the compressed input (into
 * 256 KiB batches) and one message per MiB of output; Node's own zlib stream costs a thread-pool
 * round trip, a callback and a push per 256 KiB and holds the caller's input chunks meanwhile.
 *
 * What it decodes and how it fails is Node's: `gzip` reads every member of a multi-member file
 * and ignores zero bytes after the last one, and fails with zlib's error (`Z_DATA_ERROR`,
 * `Z_BUF_ERROR` "unexpected end of file"); `zstd` decodes what one `ZstdDecompress` stream
 * would.
 *
 * Memory per stream: up to 512 KiB of compressed input in flight (writes wait beyond that) and
 * at most 2 decoded MiB ahead of the reader, plus what the reader has not taken: the worker
 * stops while the reader is behind, so an input that decodes to gigabytes holds no more.
 */
export class WorkerDecoder extends Duplex {
  readonly #codec: DecodeCodec;
  readonly #pool: DecodeWorkerPool;
  #channel: DecodeChannel | undefined;
  #batch: Buffer | undefined;
  #batchAt = 0;
  /** Input buffers the worker handed back, to be filled again. */
  readonly #spareBatches: ArrayBuffer[] = [];
  /** Compressed bytes sent and not yet read by the worker. */
  #inFlight = 0;
  /** A write waiting for the worker to read what is in flight. */
  #waitingWrite: (() => void) | undefined;
  /** Output buffers the worker holds. */
  #credits = 0;
  /** A buffer back from the worker whose few bytes were copied out: lent again next. */
  #spare: ArrayBuffer | undefined;
  #wantsOutput = false;

  constructor(codec: DecodeCodec, options: WorkerDecoderOptions = {}) {
    super({ readableHighWaterMark: 64 * KiB, writableHighWaterMark: INPUT_BATCH });
    this.#codec = codec;
    this.#pool = options.pool ?? sharedDecodeWorkerPool();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error) => void): void {
    try {
      this.#add(chunk);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (this.#inFlight > INPUT_IN_FLIGHT) this.#waitingWrite = () => done();
    else done();
  }

  override _final(done: (err?: Error) => void): void {
    try {
      this.#send();
      this.#open().end();
      this.#grant();
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  }

  override _read(): void {
    this.#wantsOutput = true;
    this.#grant();
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    this.#channel?.close();
    this.#batch = undefined;
    this.#spare = undefined;
    this.#spareBatches.length = 0;
    this.#waitingWrite = undefined;
    done(err);
  }

  #open(): DecodeChannel {
    this.#channel ??= this.#pool.open(this.#codec, {
      onReply: (reply) => this.#onReply(reply),
      onFail: (err) => this.destroy(err),
    });
    return this.#channel;
  }

  /** Copies `chunk` into batches; sends each full one (or a smaller one to an idle worker). */
  #add(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#batch === undefined) {
        const spare = this.#spareBatches.pop();
        this.#batch = spare ? Buffer.from(spare) : Buffer.allocUnsafeSlow(INPUT_BATCH);
      }
      const n = chunk.copy(this.#batch, this.#batchAt, at);
      at += n;
      this.#batchAt += n;
      if (this.#batchAt === INPUT_BATCH) this.#send();
    }
    if (this.#inFlight === 0 && this.#batchAt >= INPUT_EARLY) this.#send();
  }

  #send(): void {
    const batch = this.#batch;
    if (batch === undefined || this.#batchAt === 0) return;
    const length = this.#batchAt;
    this.#batch = undefined;
    this.#batchAt = 0;
    this.#inFlight += length;
    // The batch is a buffer of its own (allocUnsafeSlow), so it can be handed over whole.
    this.#open().input(batch.buffer as ArrayBuffer, length);
    // A stream read before its first write gets its credits now.
    this.#grant();
  }

  /** Lets the worker fill buffers up to the credit while the reader wants more. */
  #grant(): void {
    if (!this.#wantsOutput || this.#channel === undefined || this.destroyed) return;
    while (this.#credits < OUTPUT_CREDITS) {
      const output = this.#spare ?? Buffer.allocUnsafeSlow(OUTPUT_SIZE).buffer;
      this.#spare = undefined;
      this.#credits += 1;
      this.#channel.credit(output as ArrayBuffer);
    }
  }

  #onReply(reply: DecodeReply): void {
    if (this.destroyed) return;
    switch (reply.type) {
      case 'output': {
        this.#credits -= 1;
        const length = reply.length ?? reply.output.byteLength;
        let bytes = Buffer.from(reply.output, 0, length);
        if (length < COPY_BELOW) {
          bytes = Buffer.from(bytes);
          this.#spare = reply.output;
        }
        if (!this.push(bytes)) this.#wantsOutput = false;
        break;
      }
      case 'consumed': {
        this.#inFlight -= reply.bytes;
        for (const buffer of reply.buffers) {
          if (buffer.byteLength === INPUT_BATCH && this.#spareBatches.length < 2) {
            this.#spareBatches.push(buffer);
          }
        }
        const waiting = this.#waitingWrite;
        if (waiting !== undefined && this.#inFlight <= INPUT_IN_FLIGHT) {
          this.#waitingWrite = undefined;
          waiting();
        }
        if (this.#inFlight === 0 && this.#batchAt >= INPUT_EARLY) this.#send();
        break;
      }
      case 'end':
        this.#channel = undefined;
        this.push(null);
        break;
      case 'error': {
        this.#channel = undefined;
        const { message, code, errno } = reply.error;
        const err = Object.assign(new Error(message), {
          ...(code === undefined ? {} : { code }),
          ...(errno === undefined ? {} : { errno }),
        });
        this.destroy(err);
        break;
      }
    }
  }
}
