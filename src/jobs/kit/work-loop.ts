import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { ExitCode, type ExitCodeValue, S3WorkerError } from '../../errors.js';
import { untilAborted } from '../../until-aborted.js';

/**
 * How one item ended. `done`, `skipped` and `failed` are counted; `filtered` is counted as
 * skipped with reason `filtered`, `{ skipped: reason }` as skipped with that reason (`skipped`
 * alone has reason `current`: the output was already there); `aborted` (the run stopped while
 * the item was in flight) is counted apart.
 */
export type Outcome = 'done' | 'skipped' | 'failed' | 'filtered' | 'aborted' | { skipped: string };

/**
 * Distinct skip reasons counted by name; further ones are counted under `other`, so a job whose
 * reasons vary per item (one naming its key) cannot grow `skippedBy` with every item.
 */
export const MAX_SKIP_REASONS = 32;

/** Why a loop stopped before its items ran out. */
export type StopReason = 'stop-signal' | 'max-failures' | 'fatal-error';

/**
 * Errors that no other item can escape either (no or rejected credentials, wrong clock, endpoint
 * down, bucket missing or elsewhere): the loop stops and the run exits with the error's own code
 * instead of failing every item one by one. Access denied stays per item: a policy may deny one
 * prefix or one KMS key only.
 */
export const RUN_FATAL_EXIT_CODES: ReadonlySet<ExitCodeValue> = new Set<ExitCodeValue>([
  ExitCode.NoCredentials,
  ExitCode.CredentialsRejected,
  ExitCode.NoSuchBucket,
  ExitCode.WrongRegion,
  ExitCode.ClockSkew,
  ExitCode.EndpointUnreachable,
]);

/** Options of `WorkLoop`. */
export interface WorkLoopOptions<T> {
  /** Items run at once. */
  concurrency: number;
  /** Aborted at the first SIGTERM/SIGINT: no new item starts (`ctx.stopSignal`). */
  stopSignal: AbortSignal;
  /** Aborted when in-flight work must stop now (`ctx.signal`). */
  signal: AbortSignal;
  /** Stop starting items once more than this many failed (0: at the first). Default: unlimited. */
  maxFailures?: number | undefined;
  log: Logger;
  /** Does one item. Throwing counts it as failed (after `onError`), unless `signal` aborted. */
  process: (item: T) => Promise<Outcome>;
  /** Reports an item whose `process` threw (the failure report, a log line). */
  onError: (item: T, err: unknown) => void;
  /** Called once per counted item, as it ends (progress). */
  onOutcome?: ((outcome: 'done' | 'skipped' | 'failed') => void) | undefined;
  /**
   * Called once for every item taken from the source, however it ended: also `filtered`, and
   * `aborted` for an item never started because the loop stopped. A source that must account
   * for each item it gave (a queue message to delete or hand back) hears it here.
   */
  onSettled?: ((item: T, outcome: Outcome) => void) | undefined;
}

/** What a loop did. Once a run took every item (`complete`), `listed = done + skipped + failed + aborted`. */
export interface WorkLoopResult {
  counts: { done: number; skipped: number; failed: number };
  /**
   * Items the source gave (each handed to `process` or counted by `skip`): every one of them is
   * counted as done, skipped, failed or aborted, never dropped.
   */
  listed: number;
  /**
   * The skipped items by reason (`current`, `filtered`, or a job's own reason); past
   * `MAX_SKIP_REASONS` distinct reasons, the rest under `other`.
   */
  skippedBy: Record<string, number>;
  /** Items started but left unfinished because the run was stopped. */
  aborted: number;
  /** True when every item of the source was taken (not stopped early). */
  complete: boolean;
  stopReason: StopReason | undefined;
}

/**
 * The bounded loop every job that works item by item shares: at most `concurrency` items at
 * once, the source read lazily (never more than one batch ahead of the workers, so a listing of
 * millions stays flat in memory), a stop signal that lets in-flight items finish and starts no
 * more, `maxFailures`, and run-fatal errors that stop everything (see `RUN_FATAL_EXIT_CODES`).
 *
 * `run` resolves once every started item settled; it rethrows the first run-fatal error, and an
 * error of the source itself (a listing that fails) unless the run is stopping.
 */
export class WorkLoop<T> {
  readonly #o: WorkLoopOptions<T>;
  readonly #counts = { done: 0, skipped: 0, failed: 0 };
  readonly #skippedBy = new Map<string, number>();
  #listed = 0;
  #aborted = 0;
  #stopReason: StopReason | undefined;
  #fatal: S3WorkerError | undefined;

  constructor(options: WorkLoopOptions<T>) {
    this.#o = options;
  }

  /** Failed items so far. */
  get failures(): number {
    return this.#counts.failed;
  }

  /**
   * Notes a failure a job handled itself (and reports as `failed`): a run-fatal error stops
   * the loop. `process` need not call it for errors it throws.
   */
  noteFailure(err: unknown): void {
    if (err instanceof S3WorkerError && RUN_FATAL_EXIT_CODES.has(err.exitCode) && !this.#fatal) {
      this.#fatal = err;
      this.#stopReason = 'fatal-error';
      this.#o.log.error({ code: err.code, err }, 'stopping: this error affects every object');
    }
  }

  /** True once no new item may start: stop signal, too many failures, or a run-fatal error. */
  shouldStop(): boolean {
    const { stopSignal, signal, maxFailures, log } = this.#o;
    if (this.#fatal) return true;
    if (stopSignal.aborted || signal.aborted) {
      this.#stopReason ??= 'stop-signal';
      return true;
    }
    if (maxFailures !== undefined && this.#counts.failed > maxFailures) {
      if (this.#stopReason === undefined) {
        this.#stopReason = 'max-failures';
        log.warn({ failed: this.#counts.failed, maxFailures }, 'too many failures; stopping');
      }
      return true;
    }
    return false;
  }

  /**
   * Counts an item the job dropped before handing it to the loop (another shard's key, one of
   * its own outputs) as listed and skipped with `reason`, so no listed item goes uncounted.
   */
  skip(reason: string): void {
    this.#listed++;
    this.#countSkipped(reason);
  }

  #countSkipped(reason: string): void {
    this.#counts.skipped++;
    const by = this.#skippedBy;
    const name = by.has(reason) || by.size < MAX_SKIP_REASONS - 1 ? reason : 'other';
    by.set(name, (by.get(name) ?? 0) + 1);
  }

  /** Runs `process` over `items` (see the class). */
  async run(items: AsyncIterable<T>): Promise<WorkLoopResult> {
    const { concurrency, stopSignal, signal } = this.#o;
    const limit = pLimit(concurrency);
    const inFlight = new Set<Promise<void>>();
    const stopped = AbortSignal.any([stopSignal, signal]);
    let complete = false;
    let sourceError: unknown;
    try {
      let early = false;
      for await (const item of items) {
        // Never queue more than one batch ahead of the workers: the source stays lazy.
        while (inFlight.size >= concurrency * 2 && !this.shouldStop()) {
          // Not Promise.race with a promise of the stop: one reaction per item would pile up
          // on it for the whole run.
          await untilAborted(Promise.race(inFlight), stopped);
        }
        if (this.shouldStop()) {
          // Taken from the source but never started: counted, as left undone.
          this.#listed++;
          this.#aborted++;
          early = true;
          this.#o.onSettled?.(item, 'aborted');
          break;
        }
        this.#listed++;
        const task = limit(() => this.#one(item));
        inFlight.add(task);
        void task.finally(() => inFlight.delete(task));
      }
      complete = !early;
    } catch (err) {
      if (!signal.aborted) sourceError = err;
    } finally {
      // Items queued but not started return at once when stopping (`#one` checks), so this waits
      // only for the items actually in flight.
      await Promise.allSettled(inFlight);
    }
    if (this.#fatal) throw this.#fatal;
    if (sourceError !== undefined) throw sourceError;
    return {
      counts: { ...this.#counts },
      listed: this.#listed,
      skippedBy: Object.fromEntries(this.#skippedBy),
      aborted: this.#aborted,
      complete,
      stopReason: this.#stopReason,
    };
  }

  async #one(item: T): Promise<void> {
    let outcome: Outcome;
    if (this.shouldStop()) {
      outcome = 'aborted';
    } else {
      try {
        outcome = await this.#o.process(item);
      } catch (err) {
        if (this.#o.signal.aborted) {
          outcome = 'aborted';
        } else {
          this.noteFailure(err);
          this.#o.onError(item, err);
          outcome = 'failed';
        }
      }
    }
    this.#o.onSettled?.(item, outcome);
    if (outcome === 'filtered') {
      // Not in the progress total either: only counted here, as skipped.
      this.#countSkipped('filtered');
      return;
    }
    if (outcome === 'aborted') {
      this.#aborted++;
      return;
    }
    if (typeof outcome === 'object' || outcome === 'skipped') {
      this.#countSkipped(typeof outcome === 'object' ? outcome.skipped : 'current');
      this.#o.onOutcome?.('skipped');
      return;
    }
    this.#counts[outcome]++;
    this.#o.onOutcome?.(outcome);
  }
}
