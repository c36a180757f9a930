import type { ByteBudget } from '../../transfer/byte-budget.js';

/** Options of {@link OrderedBlocks}. */
export interface OrderedBlocksOptions {
  /** Blocks in flight at once (at least 1). */
  concurrency: number;
  /** Where each finished block goes, in submission order. */
  emit: (output: Buffer) => void;
  /** A budget each block's charge is held against while it is in flight. Default: none. */
  budget?: ByteBudget | undefined;
}

/** A block in flight: its result and what it holds of the budget. */
interface Pending {
  result: Promise<Buffer>;
  charge: number;
}

/**
 * Blocks processed out of order (each on libuv's thread pool) and emitted in order: at most
 * `concurrency` in flight, each optionally holding a charge of a byte budget from submission
 * until its output was emitted. The ordering and bounding half of a block-parallel codec.
 */
export class OrderedBlocks {
  readonly concurrency: number;
  readonly #emit: (output: Buffer) => void;
  readonly #budget: ByteBudget | undefined;
  /** Aborts a budget wait when the owner is destroyed. */
  readonly #abort = new AbortController();
  readonly #pending: Pending[] = [];

  constructor(options: OrderedBlocksOptions) {
    this.concurrency = Math.max(1, options.concurrency);
    this.#emit = options.emit;
    this.#budget = options.budget;
  }

  /** Blocks submitted and not yet emitted. */
  get inFlight(): number {
    return this.#pending.length;
  }

  /**
   * Starts `work` once a slot is free: fewer than `concurrency` blocks in flight and, with a
   * budget, `charge` bytes granted. While the budget is short, the oldest blocks are emitted
   * first (freeing their charge); with nothing left in flight it waits in the budget's line,
   * holding nothing (so a stalled budget lets it through).
   * @throws the work's synchronous error, or an earlier block's error met while emitting.
   */
  async submit(charge: number, work: () => Promise<Buffer>): Promise<void> {
    const budget = this.#budget;
    const held = budget === undefined ? 0 : charge;
    for (;;) {
      const slotFree = this.#pending.length < this.concurrency;
      if (slotFree && (budget === undefined || budget.tryAcquire(held))) break;
      if (this.#pending.length === 0 && budget !== undefined) {
        await budget.acquire(held, this.#abort.signal, { holdsNothing: () => true });
        break;
      }
      await this.emitOldest();
    }
    // Abandoned while waiting: nothing new may start, and what was granted goes back.
    if (this.#abort.signal.aborted) {
      this.#release(held);
      throw this.#abort.signal.reason;
    }
    let result: Promise<Buffer>;
    try {
      result = work();
    } catch (err) {
      this.#release(held);
      throw err;
    }
    // Awaited later, in order; until then an error must not count as unhandled.
    result.catch(() => {});
    this.#pending.push({ result, charge: held });
  }

  /** Waits for the oldest block, emits it and gives back its charge. */
  async emitOldest(): Promise<void> {
    const oldest = this.#pending.shift();
    if (oldest === undefined) return;
    try {
      this.#emit(await oldest.result);
    } finally {
      this.#release(oldest.charge);
    }
  }

  /** Emits every block in flight, in order. */
  async drain(): Promise<void> {
    while (this.#pending.length > 0) await this.emitOldest();
  }

  /**
   * Gives up: a budget wait is aborted, results still to come are dropped, and each block's
   * charge goes back when its work has really finished (its memory is free only then).
   */
  abandon(): void {
    this.#abort.abort();
    for (const { result, charge } of this.#pending.splice(0)) {
      const release = () => this.#release(charge);
      result.then(release, release);
    }
  }

  #release(charge: number): void {
    if (charge > 0) this.#budget?.release(charge);
  }
}
