/** One waiter in the budget's queue. */
interface Waiter {
  bytes: number;
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * One global bound on the bytes buffered by every download and upload of a run, so memory
 * stays flat whatever the object sizes and counts.
 *
 * - `acquire(n)` resolves once `n` bytes fit under the limit; `release(n)` gives them back.
 * - Fair: waiters are served first come, first served. A small request never overtakes a
 *   large one queued before it, so a large request cannot starve.
 * - A request larger than the whole limit is let through alone (when nothing else is held) so
 *   it cannot deadlock; while it holds, everyone else waits.
 * - Aborting the signal passed to `acquire` removes that waiter and rejects with the signal's
 *   reason; the bytes were never granted, so there is nothing to release.
 */
export class ByteBudget {
  /** The bound, in bytes. */
  readonly limit: number;
  #used = 0;
  #highWaterMark = 0;
  readonly #queue: Waiter[] = [];

  /** @param limit bytes that may be held at once across all holders (> 0). */
  constructor(limit: number) {
    if (!Number.isFinite(limit) || limit <= 0) {
      throw new RangeError(`byte budget limit must be a positive number, got ${limit}`);
    }
    this.limit = limit;
  }

  /** Bytes held right now. */
  get used(): number {
    return this.#used;
  }

  /** The most bytes ever held at once (for tests and metrics). */
  get highWaterMark(): number {
    return this.#highWaterMark;
  }

  /** Requests waiting for bytes. */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * Waits until `bytes` fit, then holds them until `release(bytes)`.
   * @throws the signal's reason if `signal` aborts first (nothing is held then).
   */
  acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!Number.isFinite(bytes) || bytes < 0) {
      return Promise.reject(new RangeError(`cannot acquire ${bytes} bytes`));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#queue.length === 0 && this.#fits(bytes)) {
      this.#grant(bytes);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#queue.indexOf(waiter);
          if (i !== -1) this.#queue.splice(i, 1);
          reject(signal?.reason);
          // The head may have been the one blocking smaller requests behind it.
          this.#drain();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  /** Gives back bytes taken with `acquire`, waking waiters that now fit. */
  release(bytes: number): void {
    if (bytes <= 0) return;
    if (bytes > this.#used) {
      throw new RangeError(`released ${bytes} bytes but only ${this.#used} are held`);
    }
    this.#used -= bytes;
    this.#drain();
  }

  #fits(bytes: number): boolean {
    return this.#used + bytes <= this.limit || this.#used === 0;
  }

  #grant(bytes: number): void {
    this.#used += bytes;
    if (this.#used > this.#highWaterMark) this.#highWaterMark = this.#used;
  }

  #drain(): void {
    for (;;) {
      const head = this.#queue[0];
      if (head === undefined || !this.#fits(head.bytes)) return;
      this.#queue.shift();
      head.signal?.removeEventListener('abort', head.onAbort);
      this.#grant(head.bytes);
      head.resolve();
    }
  }
}
