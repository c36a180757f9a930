import type { Logger } from 'pino';
import type { MetricsOptions } from '../../config/metrics-options.js';
import type { JobResult } from '../../jobs/job.js';
import { builtinMetric, type JobMetric } from '../../jobs/job-metrics.js';
import type { TaskMetadata } from '../../jobs/task-metadata.js';
import type { RequestCounts } from '../../s3/request-counts.js';
import type { ProgressTracker } from '../progress-tracker.js';
import { emfMembers, type MetricValue } from './emf.js';

export interface RunMetricsOptions {
  options: MetricsOptions;
  /** The job's name: the `Job` dimension. */
  jobName: string;
  /** `Family` and `Cluster` dimensions when the run is on ECS. */
  task: TaskMetadata;
  tracker: ProgressTracker;
  counts: RequestCounts;
  log: Logger;
  /** Default `Date.now`. */
  now?: () => number;
}

/** How the run ended, for the summary line's metrics. */
export interface RunEnd {
  exitCode: number;
  durationMs: number;
  result: JobResult | undefined;
}

/**
 * A metric name: 1 to 255 characters (CloudWatch's limit), starting with a capital letter, so
 * it never takes the place of a log line's own fields (`msg`, `time`, `job`...), which are
 * camelCase.
 */
const METRIC_NAME = /^[A-Z][A-Za-z0-9_.\-/#]{0,254}$/;

/**
 * Whether a run writes metric lines: `emf` always, `off` never, `auto` when the task runs on
 * ECS (where the awslogs driver sends stdout to CloudWatch Logs, which extracts them).
 */
export function metricsEnabled(
  mode: MetricsOptions['metrics'],
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (mode !== 'auto') return mode === 'emf';
  return (env.ECS_CONTAINER_METADATA_URI_V4 ?? '') !== '';
}

/**
 * A run's metrics as Embedded Metric Format members of its log lines: a `metrics` line every
 * `--metrics-interval` while the run lasts (`start`), and the members of the summary line at
 * the end (`summaryMembers`). Counts carry what happened since the run's previous metric line,
 * so the lines of a run sum to its totals; gauges carry the level at the line.
 *
 * Dimension sets: `[Job]`, and on ECS `[Job, Family]` and `[Job, Cluster]`; every
 * `--metrics-dimension` joins each set. Each set is a CloudWatch metric of its own, billed.
 */
export class RunMetrics {
  readonly #o: RunMetricsOptions;
  readonly #now: () => number;
  readonly #dimensions: Record<string, string>;
  readonly #dimensionSets: string[][];
  /** Totals of `count` metrics as of the previous line. */
  readonly #sent = new Map<string, number>();
  readonly #warned = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: RunMetricsOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    const extra = options.options.metricsDimension;
    const { task } = options;
    this.#dimensions = { Job: options.jobName, ...extra };
    const extraNames = Object.keys(extra);
    this.#dimensionSets = [['Job', ...extraNames]];
    if (task.ecs && task.family) {
      this.#dimensions.Family = task.family;
      this.#dimensionSets.push(['Job', 'Family', ...extraNames]);
    }
    if (task.ecs && task.cluster) {
      this.#dimensions.Cluster = task.cluster;
      this.#dimensionSets.push(['Job', 'Cluster', ...extraNames]);
    }
  }

  /** Starts the interval lines; unref'd, so they never keep the process alive. */
  start(): void {
    this.#timer ??= setInterval(() => {
      this.#o.log.info(this.intervalMembers(), 'metrics');
    }, this.#o.options.metricsInterval);
    this.#timer.unref();
  }

  /** Stops the interval lines (the summary still carries what happened since the last one). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The EMF members of one interval line: what happened since the previous line, and levels. */
  intervalMembers(): Record<string, unknown> {
    return this.#members(this.#values(undefined));
  }

  /** The EMF members of the summary line: what happened since the last line, and how it ended. */
  summaryMembers(end: RunEnd): Record<string, unknown> {
    this.stop();
    return this.#members(this.#values(end));
  }

  #members(metrics: MetricValue[]): Record<string, unknown> {
    return emfMembers({
      namespace: this.#o.options.metricsNamespace,
      dimensionSets: this.#dimensionSets,
      dimensions: this.#dimensions,
      metrics,
      timestamp: this.#now(),
    });
  }

  /** Every metric's value for one line: the runtime's, then the job's own. */
  #values(end: RunEnd | undefined): MetricValue[] {
    const snap = this.#o.tracker.snapshot();
    const counts = this.#o.counts;
    // The summary takes the job's own totals where it returned them, as the summary line does.
    const objects = end?.result?.objects ?? snap.objects;
    const runtime: JobMetric[] = [
      builtinMetric('BytesIn', () => end?.result?.bytesIn ?? snap.bytesIn),
      builtinMetric('BytesOut', () => end?.result?.bytesOut ?? snap.bytesOut),
      builtinMetric('ObjectsDone', () => objects.done),
      builtinMetric('ObjectsSkipped', () => objects.skipped),
      builtinMetric('ObjectsFailed', () => objects.failed),
      builtinMetric('Retries', () => counts.retries),
      builtinMetric('Throttled', () => counts.throttled),
      builtinMetric('CredentialRefreshes', () => counts.credentialRefreshes),
    ];
    if (end) {
      runtime.push(
        builtinMetric('Duration', () => end.durationMs),
        builtinMetric('Success', () => (end.exitCode === 0 ? 1 : 0)),
        builtinMetric('ExitCode', () => end.exitCode),
      );
    }
    const out: MetricValue[] = [];
    const names = new Set<string>();
    for (const metric of [...runtime, ...this.#o.tracker.metrics]) {
      if (!this.#acceptable(metric, names)) continue;
      names.add(metric.name);
      const value = this.#read(metric);
      if (value === undefined) continue;
      out.push({ name: metric.name, unit: metric.unit, value });
    }
    return out;
  }

  /** A count's growth since the previous line, or a gauge's level; undefined when unknown. */
  #read(metric: JobMetric): number | undefined {
    let value: number | undefined;
    try {
      value = metric.read();
    } catch (err) {
      this.#warnOnce(metric.name, { err }, 'a metric could not be read; left out');
      return undefined;
    }
    if (value === undefined || !Number.isFinite(value)) return undefined;
    if (metric.kind === 'gauge') return value;
    const before = this.#sent.get(metric.name) ?? 0;
    this.#sent.set(metric.name, value);
    return value - before;
  }

  /** A job metric whose name would break the line (taken, a dimension, malformed) is left out. */
  #acceptable(metric: JobMetric, names: ReadonlySet<string>): boolean {
    const problem =
      names.has(metric.name) || metric.name in this.#dimensions
        ? 'its name is taken by another metric or a dimension'
        : !METRIC_NAME.test(metric.name)
          ? 'a metric name is a capital letter, then up to 254 letters, digits and _ . - / #'
          : undefined;
    if (problem === undefined) return true;
    this.#warnOnce(metric.name, { problem }, 'a metric was left out');
    return false;
  }

  #warnOnce(name: string, fields: Record<string, unknown>, msg: string): void {
    if (this.#warned.has(name)) return;
    this.#warned.add(name);
    this.#o.log.warn({ metric: name, ...fields }, msg);
  }
}
