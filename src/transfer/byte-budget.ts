/** One waiter in the budget's queue. */
interface Waiter {
  bytes: number;
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
  holdsNothing: (() => boolean) | undefined;
  urgent: boolean;
}

/** Options of `ByteBudget.acquire`. */
export interface AcquireOptions {
  /**
   * Says whether the caller holds no other bytes of this budget right now (its in-flight work
   * has drained). When the whole budget has made no progress (no release) for `stallAfterMs`,
   * the first waiter in line that holds nothing is let through over the limit. This keeps a
   * pipeline of budgeted stages (a ranged download feeding an upload, many objects at once)
   * from deadlocking when every byte is held by stages waiting on each other: a waiter that
   * holds nothing is never what the others wait for, so letting it through makes progress.
   * Cost: memory may exceed the limit by one request per stall, and only when stalled.
   * Default: never let through over the limit.
   */
  holdsNothing?: () => boolean;
  /**
   * Served before every non-urgent waiter (first come, first served among urgent ones). For
   * bytes that let work already holding budget finish: the range a consumer is waiting for
   * completes a part that holds its bytes already, so granting it frees budget sooner than
   * granting a new part would. Default false.
   */
  urgent?: boolean;
}

/**
 * One global bound on the bytes buffered by every download and upload of a run, so memory
 * stays flat whatever the object sizes and counts.
 *
 * - `acquire(n)` resolves once `n` bytes fit under the limit; `release(n)` gives them back.
 * - Fair: waiters are served first come, first served (urgent ones first, see
 *   `AcquireOptions.urgent`). A small request never overtakes a large one queued before it, so
 *   a large request cannot starve.
 * - A request larger than the whole limit is let through alone (when nothing else is held) so
 *   it cannot deadlock; while it holds, everyone else waits.
 * - A stall (no release for `stallAfterMs` while requests wait) lets one waiter that holds
 *   nothing else through over the limit (`AcquireOptions.holdsNothing`), which breaks
 *   download→upload wait cycles; `overdrafts` counts these.
 * - Aborting the signal passed to `acquire` removes that waiter and rejects with the signal's
 *   reason; the bytes were never granted, so there is nothing to release.
 */
export class ByteBudget {
  /** The bound, in bytes. */
  readonly limit: number;
  /** How long the budget may make no progress, with requests waiting, before it counts as stalled (ms). */
  readonly stallAfterMs: number;
  #used = 0;
  #highWaterMark = 0;
  #overdrafts = 0;
  /** Bumped by every release: the watchdog compares it to see whether anything moved. */
  #progress = 0;
  #watchdog: NodeJS.Timeout | undefined;
  readonly #queue: Waiter[] = [];

  /**
   * @param limit bytes that may be held at once across all holders (> 0).
   * @param stallAfterMs no-progress time before a stall is declared (default 1000 ms): far
   *   longer than one part or range takes to move on a working connection.
   */
  constructor(limit: number, stallAfterMs = 1000) {
    if (!Number.isFinite(limit) || limit <= 0) {
      throw new RangeError(`byte budget limit must be a positive number, got ${limit}`);
    }
    this.limit = limit;
    this.stallAfterMs = stallAfterMs;
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

  /** Times a stalled request was let through over the limit (see `AcquireOptions.holdsNothing`). */
  get overdrafts(): number {
    return this.#overdrafts;
  }

  /**
   * Waits until `bytes` fit, then holds them until `release(bytes)`.
   * @throws the signal's reason if `signal` aborts first (nothing is held then).
   */
  acquire(bytes: number, signal?: AbortSignal, options: AcquireOptions = {}): Promise<void> {
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
        holdsNothing: options.holdsNothing,
        urgent: options.urgent === true,
        onAbort: () => {
          this.#remove(waiter);
          reject(signal?.reason);
          // The head may have been the one blocking smaller requests behind it.
          this.#drain();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      if (waiter.urgent) {
        const firstNormal = this.#queue.findIndex((w) => !w.urgent);
        if (firstNormal === -1) this.#queue.push(waiter);
        else this.#queue.splice(firstNormal, 0, waiter);
      } else {
        this.#queue.push(waiter);
      }
      this.#armWatchdog();
    });
  }

  /**
   * Takes `bytes` only if they fit right now and nobody is waiting (so it never jumps the
   * queue); for optional work such as reading ahead.
   * @returns whether the bytes are now held.
   */
  tryAcquire(bytes: number): boolean {
    if (this.#queue.length > 0 || this.#used + bytes > this.limit) return false;
    this.#grant(bytes);
    return true;
  }

  /** Gives back bytes taken with `acquire`, waking waiters that now fit. */
  release(bytes: number): void {
    if (bytes <= 0) return;
    if (bytes > this.#used) {
      throw new RangeError(`released ${bytes} bytes but only ${this.#used} are held`);
    }
    this.#used -= bytes;
    this.#progress += 1;
    this.#drain();
  }

  #fits(bytes: number): boolean {
    return this.#used + bytes <= this.limit || this.#used === 0;
  }

  #grant(bytes: number): void {
    this.#used += bytes;
    if (this.#used > this.#highWaterMark) this.#highWaterMark = this.#used;
  }

  /** Takes a waiter out of the queue and drops its abort listener (no-op when already out). */
  #remove(waiter: Waiter): void {
    const i = this.#queue.indexOf(waiter);
    if (i !== -1) this.#queue.splice(i, 1);
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    if (this.#queue.length === 0) this.#disarmWatchdog();
  }

  #drain(): void {
    for (;;) {
      const head = this.#queue[0];
      if (head === undefined || !this.#fits(head.bytes)) return;
      this.#remove(head);
      this.#grant(head.bytes);
      head.resolve();
    }
  }

  #armWatchdog(): void {
    if (this.#watchdog !== undefined) return;
    let seen = this.#progress;
    this.#watchdog = setInterval(() => {
      if (this.#progress !== seen) {
        seen = this.#progress;
        return;
      }
      const stalled = this.#queue.find((w) => w.holdsNothing?.() === true);
      if (stalled === undefined) return;
      this.#remove(stalled);
      this.#overdrafts += 1;
      this.#grant(stalled.bytes);
      stalled.resolve();
    }, this.stallAfterMs);
    // Kept referenced on purpose: in a true stall nothing else may be pending, and the process
    // must not exit with work unfinished before the watchdog breaks the stall.
  }

  #disarmWatchdog(): void {
    if (this.#watchdog === undefined) return;
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }
}
