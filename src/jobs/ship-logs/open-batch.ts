import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { ByteBudget } from '../../transfer/byte-budget.js';
import { type Codec, compressStage } from '../kit/compression.js';
import type { FilePosition, SourceEvent } from './source-event.js';

/** Options of {@link OpenBatch}. */
export interface OpenBatchOptions {
  /** Where the compressed bytes go (the spool's open file). */
  path: string;
  codec: Codec;
  level?: number;
  /** Sealed this long after it was opened (ms). */
  maxAge: number;
  /** The run's byte budget: the compressor's blocks in flight are held in it. Default: none. */
  budget?: ByteBudget | undefined;
}

/**
 * The batch being filled: lines stream through compression into the spool's open file (so
 * memory holds only what the compressor buffers, whatever the batch size), and the positions
 * they move are collected for the checkpoint. `seal` ends the compressed stream and fsyncs it.
 */
export class OpenBatch {
  readonly openedAt = new Date();
  /** When the first line was written (ms since the epoch); undefined until then. */
  firstLineAt: number | undefined;
  lines = 0;
  rawBytes = 0;
  readonly positions = new Map<string, FilePosition>();
  readonly forget = new Set<string>();
  /** Aborted once the batch is `maxAge` old (never once it is sealed or discarded). */
  readonly aged: AbortSignal;
  readonly #options: OpenBatchOptions;
  readonly #aged = new AbortController();
  readonly #ageTimer: NodeJS.Timeout;
  #input: Writable | undefined;
  #file: WriteStream | undefined;
  #done: Promise<void> | undefined;

  constructor(options: OpenBatchOptions) {
    this.#options = options;
    this.aged = this.#aged.signal;
    this.#ageTimer = setTimeout(() => this.#aged.abort(), options.maxAge);
  }

  /** True once a line was written. */
  get hasData(): boolean {
    return this.#input !== undefined;
  }

  /** Compressed bytes written to the file so far. */
  get dataBytes(): number {
    return this.#file?.bytesWritten ?? 0;
  }

  /**
   * Writes complete lines and resolves once the compressor (or the file) has taken them: copied
   * into a block, or written. `data` may then be reused (the tailer reads the next lines into
   * the same buffer), so this waits for the write itself, not only for room.
   */
  async write(data: Buffer, lines: number): Promise<void> {
    if (data.length === 0) return;
    const input = this.#open();
    this.firstLineAt ??= Date.now();
    this.lines += lines;
    this.rawBytes += data.length;
    const written = new Promise<void>((resolve, reject) => {
      input.write(data, (err) => (err ? reject(err) : resolve()));
    });
    try {
      await written;
    } catch (err) {
      // A failed pipeline destroyed the input; `done` says why.
      await this.#done;
      throw err;
    }
  }

  /** Records a position change or a forgotten file. */
  note(event: SourceEvent): void {
    if (event.kind === 'forget') {
      this.positions.delete(event.id);
      this.forget.add(event.id);
      return;
    }
    if (event.position) {
      this.positions.set(event.position.id, event.position);
      this.forget.delete(event.position.id);
    }
  }

  /** Ends the compressed stream and fsyncs the file; returns its size (0 without lines). */
  async seal(): Promise<number> {
    clearTimeout(this.#ageTimer);
    if (!this.#input) return 0;
    this.#input.end();
    await this.#done;
    return this.dataBytes;
  }

  /** Drops the open file (stopping with a spool that cannot take it). */
  async discard(): Promise<void> {
    clearTimeout(this.#ageTimer);
    this.#input?.destroy();
    await this.#done?.catch(() => {});
    await rm(this.#options.path, { force: true });
  }

  #open(): Writable {
    if (this.#input) return this.#input;
    // flush: fsync before close, so a sealed batch is on disk before its meta says it exists.
    const file = createWriteStream(this.#options.path, { flush: true });
    const stage = compressStage(this.#options.codec, {
      level: this.#options.level,
      budget: this.#options.budget,
    });
    this.#file = file;
    this.#input = stage ?? file;
    this.#done = (stage ? pipeline(stage, file) : finished(file)).then(async () => {
      if (!file.closed) await once(file, 'close');
    });
    // Awaited by write and seal; a failure before then must not be an unhandled rejection.
    this.#done.catch(() => {});
    return this.#input;
  }
}
