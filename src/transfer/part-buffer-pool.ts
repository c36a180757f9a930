/**
 * Part buffers shared by every upload of one `Transfer`. Allocating a fresh part per upload costs
 * little for one big object, but a run of thousands of small objects would allocate (and the
 * garbage collector free) a whole part for each — gigabytes of churn for megabytes of data. The
 * budget already bounds how many parts are held at once, so keeping at most `limit / size` spare
 * buffers of each size never holds more memory than the budget allows.
 */
export class PartBufferPool {
  readonly #limit: number;
  readonly #spare = new Map<number, Buffer[]>();

  /** @param limit the byte budget's limit: spare buffers of one size never add up to more. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** A buffer of exactly `size` bytes (contents undefined): a spare one, or a new one. */
  take(size: number): Buffer {
    // allocUnsafeSlow: a part is never a slice of Node's shared pool, so keeping it keeps nothing else alive.
    return this.#spare.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
  }

  /** Hands a buffer back once no request reads it any more. */
  give(buffer: Buffer): void {
    let spare = this.#spare.get(buffer.length);
    if (!spare) {
      spare = [];
      this.#spare.set(buffer.length, spare);
    }
    if (spare.length < Math.max(1, Math.floor(this.#limit / buffer.length))) spare.push(buffer);
  }
}
