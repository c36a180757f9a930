import type { ProgressReporter } from '../job.js';
import { builtinMetric } from '../job-metrics.js';

/**
 * db-restore's own metrics (docs/metrics.md), kept by one run: `VerifiedBytes` once the
 * backup's stored bytes matched its manifest's SHA-256, `RestoreSeconds` once a restore
 * finished.
 */
export class RestoreMetrics {
  /** Stored bytes whose SHA-256 matched the manifest (the verification pass; 0 for a corrupt backup). */
  verifiedBytes = 0;
  /** Wall time of the finished restore in ms; undefined until then. */
  #restoreMs: number | undefined;

  /** Adds the two metrics to the run's metric lines (a reporter without metrics ignores them). */
  report(progress: ProgressReporter): void {
    progress.addMetrics?.([
      builtinMetric('VerifiedBytes', () => this.verifiedBytes),
      builtinMetric('RestoreSeconds', () =>
        this.#restoreMs === undefined ? undefined : this.#restoreMs / 1000,
      ),
    ]);
  }

  /** The restore finished after `ms`, from the start of its verification to the tool's exit. */
  restored(ms: number): void {
    this.#restoreMs = ms;
  }
}
