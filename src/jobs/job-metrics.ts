/** The CloudWatch units s3worker's metrics use (a subset of CloudWatch's `StandardUnit`). */
export type MetricUnit = 'Count' | 'Bytes' | 'Seconds' | 'Milliseconds' | 'None';

/**
 * One metric a job reports (`ProgressReporter.addMetrics`). The runtime reads it at every
 * metric line: every `--metrics-interval` while the run lasts, and once in the summary.
 */
export interface JobMetric {
  /** CloudWatch metric name, PascalCase (`LinesShipped`); at most 255 characters. */
  name: string;
  unit: MetricUnit;
  /**
   * `count`: `read` returns a running total the job keeps; each metric line carries what was
   * added since the run's previous line, so the lines of a run sum to its total (use `Sum`).
   * `gauge`: `read` returns a level at the moment of the line (spool bytes, oldest age).
   */
  kind: 'count' | 'gauge';
  /** The current total or level; `undefined` leaves the metric out of this line (not known yet). */
  read: () => number | undefined;
}

/** What docs/metrics.md says of a metric; the table there is checked against this list. */
export interface MetricDefinition {
  name: string;
  unit: MetricUnit;
  kind: 'count' | 'gauge';
  /** `run` for every job, else the job (or mode) that reports it. */
  scope: 'run' | 'ship-logs' | 'queue' | 'db-backup' | 'db-restore';
  /** `summary`: only in the run's last line; `interval`: in every metric line. */
  when: 'summary' | 'interval';
}

/**
 * Every metric s3worker's own jobs and runtime emit: the one definition `docs/metrics.md`, the
 * alarms in deploy/ and the jobs' `builtinMetric` calls agree with.
 */
export const METRICS = [
  { name: 'Duration', unit: 'Milliseconds', kind: 'gauge', scope: 'run', when: 'summary' },
  { name: 'BytesIn', unit: 'Bytes', kind: 'count', scope: 'run', when: 'interval' },
  { name: 'BytesOut', unit: 'Bytes', kind: 'count', scope: 'run', when: 'interval' },
  { name: 'ObjectsDone', unit: 'Count', kind: 'count', scope: 'run', when: 'interval' },
  { name: 'ObjectsSkipped', unit: 'Count', kind: 'count', scope: 'run', when: 'interval' },
  { name: 'ObjectsFailed', unit: 'Count', kind: 'count', scope: 'run', when: 'interval' },
  { name: 'Success', unit: 'None', kind: 'gauge', scope: 'run', when: 'summary' },
  { name: 'ExitCode', unit: 'None', kind: 'gauge', scope: 'run', when: 'summary' },
  { name: 'Retries', unit: 'Count', kind: 'count', scope: 'run', when: 'interval' },
  { name: 'Throttled', unit: 'Count', kind: 'count', scope: 'run', when: 'interval' },
  { name: 'CredentialRefreshes', unit: 'Count', kind: 'count', scope: 'run', when: 'interval' },
  { name: 'LinesRead', unit: 'Count', kind: 'count', scope: 'ship-logs', when: 'interval' },
  { name: 'LinesShipped', unit: 'Count', kind: 'count', scope: 'ship-logs', when: 'interval' },
  { name: 'LinesDropped', unit: 'Count', kind: 'count', scope: 'ship-logs', when: 'interval' },
  { name: 'BatchesUploaded', unit: 'Count', kind: 'count', scope: 'ship-logs', when: 'interval' },
  { name: 'SpoolBytes', unit: 'Bytes', kind: 'gauge', scope: 'ship-logs', when: 'interval' },
  {
    name: 'OldestUnshippedSeconds',
    unit: 'Seconds',
    kind: 'gauge',
    scope: 'ship-logs',
    when: 'interval',
  },
  { name: 'MessagesReceived', unit: 'Count', kind: 'count', scope: 'queue', when: 'interval' },
  { name: 'MessagesDeleted', unit: 'Count', kind: 'count', scope: 'queue', when: 'interval' },
  { name: 'MessagesReturned', unit: 'Count', kind: 'count', scope: 'queue', when: 'interval' },
  { name: 'PoisonMessages', unit: 'Count', kind: 'count', scope: 'queue', when: 'interval' },
  {
    name: 'OldestMessageAgeSeconds',
    unit: 'Seconds',
    kind: 'gauge',
    scope: 'queue',
    when: 'interval',
  },
  { name: 'DumpBytes', unit: 'Bytes', kind: 'count', scope: 'db-backup', when: 'interval' },
  { name: 'StoredBytes', unit: 'Bytes', kind: 'count', scope: 'db-backup', when: 'interval' },
  { name: 'DumpSeconds', unit: 'Seconds', kind: 'gauge', scope: 'db-backup', when: 'summary' },
  {
    name: 'LastGoodBackupAgeSeconds',
    unit: 'Seconds',
    kind: 'gauge',
    scope: 'db-backup',
    when: 'summary',
  },
  { name: 'VerifiedBytes', unit: 'Bytes', kind: 'count', scope: 'db-restore', when: 'interval' },
  { name: 'RestoreSeconds', unit: 'Seconds', kind: 'gauge', scope: 'db-restore', when: 'summary' },
] as const satisfies readonly MetricDefinition[];

/** The name of one of s3worker's own metrics. */
export type BuiltinMetricName = (typeof METRICS)[number]['name'];

/**
 * A built-in metric with its unit and kind from {@link METRICS}: `builtinMetric('LinesRead',
 * () => reader.lines)`.
 */
export function builtinMetric(name: BuiltinMetricName, read: () => number | undefined): JobMetric {
  const def = METRICS.find((m) => m.name === name) as MetricDefinition;
  return { name, unit: def.unit, kind: def.kind, read };
}
