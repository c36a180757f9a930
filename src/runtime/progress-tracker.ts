import type { HealthSignals, ProgressReporter } from '../jobs/job.js';
import type { JobMetric } from '../jobs/job-metrics.js';

/** Counts at one moment, with the rate and ETA derived from them. */
export interface ProgressSnapshot {
  objects: { total: number; done: number; skipped: number; failed: number };
  bytesTotal: number;
  bytesIn: number;
  bytesOut: number;
  elapsedMs: number;
  /** Source bytes read per second since the start (MB = 10^6 bytes). */
  mbPerSecond: number;
  /** Milliseconds left at the current rate; undefined while the total or rate is unknown. */
  etaMs: number | undefined;
  /** The job's own groups of counts (`addSection`), by name; absent when it added none. */
  sections?: Record<string, Record<string, unknown>>;
}

/**
 * The runtime's ProgressReporter: plain counters a job bumps as it works. The display, the
 * status file and the final summary read `snapshot()`; reporting costs a few additions.
 */
export class ProgressTracker implements ProgressReporter {
  readonly #startedAt: number;
  readonly #now: () => number;
  #objectsTotal = 0;
  #bytesTotal = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  readonly #outcomes = { done: 0, skipped: 0, failed: 0 };
  readonly #sections = new Map<string, () => Record<string, unknown>>();
  readonly #healthSignals: HealthSignals[] = [];
  readonly #metrics: JobMetric[] = [];

  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.#startedAt = now();
  }

  addTotal(objects: number, bytes: number): void {
    this.#objectsTotal += objects;
    this.#bytesTotal += bytes;
  }

  addBytesIn(bytes: number): void {
    this.#bytesIn += bytes;
  }

  addBytesOut(bytes: number): void {
    this.#bytesOut += bytes;
  }

  objectDone(outcome: 'done' | 'skipped' | 'failed'): void {
    this.#outcomes[outcome]++;
  }

  addSection(name: string, fields: () => Record<string, unknown>): void {
    this.#sections.set(name, fields);
  }

  addHealthSignals(signals: HealthSignals): void {
    this.#healthSignals.push(signals);
  }

  addMetrics(metrics: readonly JobMetric[]): void {
    this.#metrics.push(...metrics);
  }

  /** The job's own metrics, in the order added (read by `RunMetrics`). */
  get metrics(): readonly JobMetric[] {
    return this.#metrics;
  }

  /** The job's health signals, in the order added (read by `ProgressMark`). */
  get healthSignals(): readonly HealthSignals[] {
    return this.#healthSignals;
  }

  snapshot(): ProgressSnapshot {
    const elapsedMs = Math.max(0, this.#now() - this.#startedAt);
    const rate = elapsedMs > 0 ? this.#bytesIn / (elapsedMs / 1000) : 0;
    const finished = this.#outcomes.done + this.#outcomes.skipped + this.#outcomes.failed;
    let etaMs: number | undefined;
    if (this.#bytesTotal > 0 && rate > 0) {
      etaMs = (Math.max(0, this.#bytesTotal - this.#bytesIn) / rate) * 1000;
    } else if (this.#objectsTotal > 0 && finished > 0) {
      etaMs = (elapsedMs / finished) * Math.max(0, this.#objectsTotal - finished);
    }
    return {
      objects: { total: this.#objectsTotal, ...this.#outcomes },
      bytesTotal: this.#bytesTotal,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      elapsedMs,
      mbPerSecond: rate / 1e6,
      etaMs: etaMs === undefined ? undefined : Math.round(etaMs),
      ...(this.#sections.size > 0
        ? {
            sections: Object.fromEntries(
              [...this.#sections].map(([name, fields]) => [name, fields()]),
            ),
          }
        : {}),
    };
  }
}
