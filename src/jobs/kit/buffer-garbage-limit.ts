const MiB = 1024 * 1024;

/** What `--expose-gc` puts on `globalThis`. */
export type GcFunction = (options?: {
  type?: 'minor' | 'major';
  execution?: 'sync' | 'async';
}) => unknown;

/** Default growth of buffer memory allowed between two collections. */
export const BUFFER_GARBAGE_SLACK = 8 * MiB;
/** Default bytes of data between two looks at buffer memory. */
export const BUFFER_GARBAGE_CHECK_EVERY = 4 * MiB;

/** Options of {@link BufferGarbageLimit}. */
export interface BufferGarbageLimitOptions {
  /** Growth of buffer memory since the last collection that triggers one. Default 8 MiB. */
  slack?: number;
  /** Data handled between two looks at buffer memory. Default 4 MiB. */
  checkEvery?: number;
  /**
   * The collector; default `globalThis.gc`, there when Node runs with `--expose-gc` (as the
   * `s3worker` bin does). Without one the limit does nothing.
   */
  gc?: GcFunction | undefined;
  /** Bytes held by ArrayBuffers (Buffers) now. Default `process.memoryUsage().arrayBuffers`. */
  bufferBytes?: () => number;
}

/**
 * Keeps the dead buffers of a long stream under a bound V8 does not keep by itself. V8 frees a
 * dead Buffer's memory only when it collects the object that owns it, and it starts a full
 * collection for such memory only once 64 MiB more of it is held than after the last one. A
 * stage that makes its buffers outside the JS heap (zlib allocates an output buffer per
 * compressed block and copies the output out of it) and little on the heap itself reaches
 * that: measured on ship-logs reading 400 MiB of lines as fast as gzip -1 takes them, buffer
 * memory rose to 50-70 MiB, all of it dead, and peak RSS to 150-170 MiB. Young-generation
 * collections every 16 MiB did not free it; a full collection every 16 MiB did (123 MiB) at
 * 20% more CPU.
 *
 * This looks at buffer memory every `checkEvery` bytes of data (one `memoryUsage()` call) and
 * asks for a full collection when it grew by `slack` since the last one. Measured on the same
 * 400 MiB read as fast as it goes (`run ship-logs --once`, gzip -1): peak RSS 125-127 MiB with
 * the defaults (8 MiB, looked at every 4 MiB), 134 with 16 and 8, 152-171 without; CPU 12% and
 * 8% more. A log file appended as the bench does it: 122-127 MiB with 16 and 8.
 */
export class BufferGarbageLimit {
  readonly #slack: number;
  readonly #checkEvery: number;
  readonly #gc: GcFunction | undefined;
  readonly #bufferBytes: () => number;
  #since = 0;
  #base: number | undefined;
  /** Collections asked for so far. */
  collections = 0;

  constructor(options: BufferGarbageLimitOptions = {}) {
    this.#slack = options.slack ?? BUFFER_GARBAGE_SLACK;
    this.#checkEvery = options.checkEvery ?? BUFFER_GARBAGE_CHECK_EVERY;
    this.#gc = 'gc' in options ? options.gc : (globalThis as { gc?: GcFunction }).gc;
    this.#bufferBytes = options.bufferBytes ?? (() => process.memoryUsage().arrayBuffers);
  }

  /** Counts `bytes` of data handled; every `checkEvery` of them, collects when buffers grew past the slack. */
  add(bytes: number): void {
    if (this.#gc === undefined) return;
    this.#since += bytes;
    if (this.#since < this.#checkEvery) return;
    this.#since = 0;
    const now = this.#bufferBytes();
    this.#base ??= now;
    if (now - this.#base < this.#slack) {
      // Buffers freed by V8's own collections lower the base, so growth counts from there.
      this.#base = Math.min(this.#base, now);
      return;
    }
    this.collections++;
    this.#gc({ type: 'major' });
    this.#base = this.#bufferBytes();
  }
}
