import { Duplex } from 'node:stream';
import {
  type DecodeChannel,
  type DecodeCodec,
  type DecodeReply,
  type DecodeWorkerPool,
  sharedDecodeWorkerPool,
} from './decode-worker-pool.js';

const KiB = 1024;
/** Bytes of each compressed input slot (about 1 MiB decoded, for log text). */
const INPUT_SLOT = 256 * KiB;
/** Input slots: one being filled here while the worker reads the others. */
const INPUT_SLOTS = 3;
/** An input slot goes early, at this size, when the worker has nothing else to read. */
const INPUT_EARLY = 32 * KiB;
/** Bytes of each output slot the worker decodes into. */
const OUTPUT_SLOT = 1024 * KiB;
/** Output slots: how far the worker may decode ahead of this stream's reader. */
const OUTPUT_SLOTS = 2;

/** Options of {@link WorkerDecoder}. */
export interface WorkerDecoderOptions {
  /** The threads to decode on. Default: the process's pool (`sharedDecodeWorkerPool()`). */
  pool?: DecodeWorkerPool | undefined;
}

/**
 * A gzip or zstd decoding stream whose decoding runs on a worker thread (see `decode-worker.ts`):
 * one long-lived native context per stream and a synchronous decode loop. Bytes pass between the
 * threads through two SharedArrayBuffers made once per stream: the compressed input is copied
 * into 256 KiB slots, the worker decodes into 1 MiB slots, and each decoded slot is copied out
 * into the Buffer pushed to the reader. The main thread handles one message per MiB decoded;
 * Node's own zlib stream costs a thread-pool round trip, a callback and a push per 256 KiB.
 *
 * What it decodes and how it fails is Node's: `gzip` reads every member of a multi-member file
 * and ignores zero bytes after the last one, and fails with zlib's error (`Z_DATA_ERROR`,
 * `Z_BUF_ERROR` "unexpected end of file"); `zstd` decodes what one `ZstdDecompress` stream
 * would.
 *
 * Memory per stream: 3 × 256 KiB of input and 2 × 1 MiB of output slots, plus up to 3 MiB of
 * decoded bytes the reader has not taken. Writes wait while every input slot is the worker's;
 * the worker decodes ahead of the reader by its two slots and stops while a slot's worth waits
 * (it is lent a slot only then), so an input that decodes to gigabytes holds no more.
 */
export class WorkerDecoder extends Duplex {
  readonly #codec: DecodeCodec;
  readonly #pool: DecodeWorkerPool;
  #channel: DecodeChannel | undefined;
  #input: Buffer | undefined;
  #output: Buffer | undefined;
  /** Input slots free to fill, the one being filled, and how far. */
  readonly #freeInputs: number[] = [];
  #filling: number | undefined;
  #fillAt = 0;
  /** Input slots the worker holds. */
  #inputsOut = 0;
  /** A write waiting for a free input slot. */
  #waitingWrite: (() => void) | undefined;
  /** Output slots not lent to the worker. */
  readonly #freeOutputs: number[] = [];
  /** The worker said its last word (the end, or an error). */
  #over = false;

  constructor(codec: DecodeCodec, options: WorkerDecoderOptions = {}) {
    // One decoded slot may wait for the reader while the worker fills the next ones.
    super({ readableHighWaterMark: OUTPUT_SLOT, writableHighWaterMark: INPUT_SLOT });
    this.#codec = codec;
    this.#pool = options.pool ?? sharedDecodeWorkerPool();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error) => void): void {
    this.#add(chunk, 0, done);
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
    // Called before the reader takes what is buffered: lends without looking at the buffer.
    this.#grant(true);
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    this.#channel?.close();
    this.#waitingWrite = undefined;
    done(err);
  }

  #open(): DecodeChannel {
    if (this.#channel !== undefined) return this.#channel;
    const input = new SharedArrayBuffer(INPUT_SLOTS * INPUT_SLOT);
    const output = new SharedArrayBuffer(OUTPUT_SLOTS * OUTPUT_SLOT);
    this.#input = Buffer.from(input);
    this.#output = Buffer.from(output);
    for (let slot = 0; slot < INPUT_SLOTS; slot++) this.#freeInputs.push(slot);
    for (let slot = 0; slot < OUTPUT_SLOTS; slot++) this.#freeOutputs.push(slot);
    this.#channel = this.#pool.open(
      this.#codec,
      { input, inputSlot: INPUT_SLOT, output, outputSlot: OUTPUT_SLOT },
      {
        onReply: (reply) => this.#onReply(reply),
        onFail: (err) => this.destroy(err),
      },
    );
    return this.#channel;
  }

  /** Copies `chunk` from `at` into input slots, sending each full one; waits for a free slot when there is none. */
  #add(chunk: Buffer, from: number, done: (err?: Error) => void): void {
    let at = from;
    try {
      this.#open();
      while (at < chunk.length) {
        if (this.#filling === undefined) {
          const slot = this.#freeInputs.shift();
          if (slot === undefined) {
            this.#waitingWrite = () => this.#add(chunk, at, done);
            return;
          }
          this.#filling = slot;
          this.#fillAt = 0;
        }
        const start = this.#filling * INPUT_SLOT + this.#fillAt;
        const n = chunk.copy(
          this.#input!,
          start,
          at,
          Math.min(chunk.length, at + INPUT_SLOT - this.#fillAt),
        );
        at += n;
        this.#fillAt += n;
        if (this.#fillAt === INPUT_SLOT) this.#send();
      }
      if (this.#inputsOut === 0 && this.#fillAt >= INPUT_EARLY) this.#send();
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  }

  /** Hands the slot being filled to the worker, if it holds anything. */
  #send(): void {
    const slot = this.#filling;
    if (slot === undefined || this.#fillAt === 0) return;
    this.#filling = undefined;
    this.#inputsOut += 1;
    this.#open().input(slot, this.#fillAt);
    this.#fillAt = 0;
    // A stream read before its first write gets its output slots now.
    this.#grant();
  }

  /**
   * Lends the worker every free output slot when the reader asks for more (`wanted`), or while
   * less than a slot's worth of decoded bytes waits for it: the worker decodes ahead of the
   * reader by the slots, no further.
   */
  #grant(wanted = false): void {
    if (this.#channel === undefined || this.#over || this.destroyed) return;
    if (!wanted && this.readableLength >= OUTPUT_SLOT) return;
    for (
      let slot = this.#freeOutputs.shift();
      slot !== undefined;
      slot = this.#freeOutputs.shift()
    ) {
      this.#channel.credit(slot);
    }
  }

  #onReply(reply: DecodeReply): void {
    if (this.destroyed) return;
    switch (reply.type) {
      case 'output': {
        const start = reply.slot * OUTPUT_SLOT;
        // Copied out: the slot is lent again while the reader still holds these bytes.
        const bytes = Buffer.allocUnsafe(reply.length);
        this.#output!.copy(bytes, 0, start, start + reply.length);
        this.#freeOutputs.push(reply.slot);
        this.push(bytes);
        this.#grant();
        break;
      }
      case 'consumed': {
        this.#inputsOut -= reply.slots.length;
        this.#freeInputs.push(...reply.slots);
        const waiting = this.#waitingWrite;
        this.#waitingWrite = undefined;
        waiting?.();
        if (this.#inputsOut === 0 && this.#fillAt >= INPUT_EARLY) this.#send();
        break;
      }
      case 'end':
        this.#over = true;
        this.push(null);
        break;
      case 'error': {
        this.#over = true;
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
