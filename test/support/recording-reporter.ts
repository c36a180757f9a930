import type { ProgressReporter } from '../../src/jobs/job.js';
import type { JobMetric } from '../../src/jobs/job-metrics.js';

/** A ProgressReporter that keeps the metrics the job added, by name, and ignores the rest. */
export function recordingReporter(): ProgressReporter & { metrics: Map<string, JobMetric> } {
  const metrics = new Map<string, JobMetric>();
  return {
    metrics,
    addTotal: () => {},
    addBytesIn: () => {},
    addBytesOut: () => {},
    objectDone: () => {},
    addMetrics: (added) => {
      for (const m of added) metrics.set(m.name, m);
    },
  };
}
