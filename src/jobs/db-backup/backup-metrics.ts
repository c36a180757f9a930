import type { ProgressReporter } from '../job.js';
import { builtinMetric } from '../job-metrics.js';

/**
 * db-backup's own metrics (docs/metrics.md), kept by one run: `DumpBytes` and `StoredBytes`
 * as they grow, `DumpSeconds` and `LastGoodBackupAgeSeconds` once the run has ended
 * ({@link BackupMetrics.end}); before that those two read as not known.
 */
export class BackupMetrics {
  /** Bytes the dump tools wrote, a failed dump's included. */
  dumpBytes = 0;
  /** Bytes of the backup objects S3 stored: each counted once its upload completed. */
  storedBytes = 0;
  #dumps = 0;
  #dumpMs = 0;
  #ended = false;
  /** Epoch ms the oldest of the run's databases' newest good backups was finished. */
  #lastGoodAt: number | undefined;
  readonly #now: () => number;

  /** `now`: the clock the age is read on (epoch ms); default `Date.now`. */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Adds the four metrics to the run's metric lines (a reporter without metrics ignores them). */
  report(progress: ProgressReporter): void {
    progress.addMetrics?.([
      builtinMetric('DumpBytes', () => this.dumpBytes),
      builtinMetric('StoredBytes', () => this.storedBytes),
      builtinMetric('DumpSeconds', () =>
        this.#ended && this.#dumps > 0 ? this.#dumpMs / 1000 : undefined,
      ),
      // Read at the summary line itself, so the age is the one at the line's own time.
      builtinMetric('LastGoodBackupAgeSeconds', () =>
        this.#ended && this.#lastGoodAt !== undefined
          ? Math.max(0, this.#now() - this.#lastGoodAt) / 1000
          : undefined,
      ),
    ]);
  }

  /** One dump ran for `ms` (from its tool's start until its object was stored or it failed). */
  dumped(ms: number): void {
    this.#dumps++;
    this.#dumpMs += ms;
  }

  /**
   * The run has ended. `lastGoodAt`: when the oldest of its databases' newest good backups was
   * finished (epoch ms); undefined leaves `LastGoodBackupAgeSeconds` out (no good backup of
   * some database, or the catalogue could not be read).
   */
  end(lastGoodAt: number | undefined): void {
    this.#ended = true;
    this.#lastGoodAt = lastGoodAt;
  }
}
