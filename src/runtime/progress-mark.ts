import type { HealthSignals } from '../jobs/job.js';

/** What the progress mark is made of at one moment. */
export interface ProgressMarkReading {
  /** Bytes S3 acknowledged storing (`Transfer.bytesStored`). */
  bytesStored: number;
  /** Objects finished as done or skipped (failed ones are not progress). */
  done: number;
  skipped: number;
  /** The job's own signals (`ProgressReporter.addHealthSignals`). */
  signals: readonly HealthSignals[];
}

/**
 * When the run last made progress, as `s3worker healthcheck` reads it (`lastProgressAt`). The
 * mark moves only with acknowledged work — bytes S3 stored, objects done or skipped, a job's
 * `settled` count — or, while no job signal has work pending, with a job's `alive` count (a file
 * scan, an answered poll). Bytes read, failed objects, retries, and scans or polls while work
 * waits for an acknowledgement move nothing: a worker whose writes S3 refuses for good goes
 * stale and gets replaced, while one with nothing to do stays healthy.
 */
export class ProgressMark {
  #mark: string | undefined;
  #movedAt: Date;

  constructor(startedAt: Date) {
    this.#movedAt = startedAt;
  }

  /** Takes a reading at `now`; returns when the mark last moved (`now` if it just did). */
  update(reading: ProgressMarkReading, now: Date): Date {
    const mark = markOf(reading);
    if (mark !== this.#mark) {
      this.#mark = mark;
      this.#movedAt = now;
    }
    return this.#movedAt;
  }
}

function markOf(reading: ProgressMarkReading): string {
  const { signals } = reading;
  const settled = signals.map((s) => s.settled?.() ?? 0);
  // One job's waiting work makes every poll a busy one: polls prove nothing while work waits.
  const pending = signals.some((s) => (s.pending?.() ?? 0) > 0);
  const alive = pending ? 'pending' : signals.map((s) => s.alive?.() ?? 0).join(',');
  return [reading.bytesStored, reading.done, reading.skipped, ...settled, alive].join('/');
}
