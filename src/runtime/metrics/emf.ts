import type { MetricUnit } from '../../jobs/job-metrics.js';

/** One metric's value in one line. */
export interface MetricValue {
  name: string;
  unit: MetricUnit;
  value: number;
}

/** CloudWatch takes at most this many metrics in one directive of a line. */
export const MAX_METRICS_PER_DIRECTIVE = 100;
/** CloudWatch takes at most this many dimensions in one dimension set. */
export const MAX_DIMENSIONS_PER_SET = 30;

export interface EmfLine {
  namespace: string;
  /** The sets of dimension names each metric is published under (each set: a billed metric). */
  dimensionSets: readonly (readonly string[])[];
  /** The value of every dimension any set names. */
  dimensions: Readonly<Record<string, string>>;
  metrics: readonly MetricValue[];
  /** Milliseconds since the epoch. */
  timestamp: number;
}

/**
 * The members that make a JSON log line an Embedded Metric Format line: `_aws` with the
 * metric directives (at most {@link MAX_METRICS_PER_DIRECTIVE} metrics each), and each
 * dimension and metric value as a member of the line itself, as AWS's EMF specification
 * defines it. CloudWatch Logs turns such a line into metrics; the rest of the line stays a log.
 */
export function emfMembers(line: EmfLine): Record<string, unknown> {
  const directives = [];
  for (let at = 0; at < line.metrics.length; at += MAX_METRICS_PER_DIRECTIVE) {
    directives.push({
      Namespace: line.namespace,
      Dimensions: line.dimensionSets.map((set) => [...set]),
      Metrics: line.metrics
        .slice(at, at + MAX_METRICS_PER_DIRECTIVE)
        .map((m) => ({ Name: m.name, Unit: m.unit })),
    });
  }
  return {
    _aws: { Timestamp: line.timestamp, CloudWatchMetrics: directives },
    ...line.dimensions,
    ...Object.fromEntries(line.metrics.map((m) => [m.name, m.value])),
  };
}
