import { z } from 'zod';
import { durationSchema } from './duration-schema.js';

/** The CloudWatch namespace of s3worker's metrics unless `--metrics-namespace` says otherwise. */
export const DEFAULT_METRICS_NAMESPACE = 'S3Worker';

/** Dimension names the runtime sets itself; `--metrics-dimension` may not reuse them. */
export const RESERVED_DIMENSIONS = ['Job', 'Family', 'Cluster'] as const;

/**
 * At most this many `--metrics-dimension`s: CloudWatch allows 30 dimensions in a set and the
 * runtime's largest set has two of its own. Each one joins every set, so it adds no set (no
 * billed metric) of its own, but each distinct value of it is a metric of its own.
 */
export const MAX_EXTRA_DIMENSIONS = 28;

/**
 * CloudWatch metrics in the log lines (Embedded Metric Format): a fragment of the runtime
 * options. See docs/metrics.md.
 */
export const metricsOptionsSchema = z.object({
  metrics: z
    .enum(['auto', 'emf', 'off'])
    .default('auto')
    .describe(
      'CloudWatch metrics in the log lines (Embedded Metric Format, turned into metrics by CloudWatch Logs with no agent): emf = on, off = none, auto = on when the task runs on ECS (ECS_CONTAINER_METADATA_URI_V4 set)',
    ),
  metricsNamespace: z
    .string()
    .regex(
      /^[A-Za-z0-9.\-_/#: ]{1,255}$/,
      'a CloudWatch namespace: 1 to 255 letters, digits and . - _ / # : or space',
    )
    .refine((ns) => !ns.startsWith('AWS/'), 'namespaces starting with AWS/ belong to AWS services')
    .default(DEFAULT_METRICS_NAMESPACE)
    .describe('CloudWatch namespace of the metrics'),
  metricsInterval: durationSchema
    .refine((ms) => ms >= 1_000, 'must be at least 1s')
    .default(60_000)
    .describe(
      'how often a long run (ship-logs, queue mode, a long transform) writes a metric line besides its summary; counts in each line are what happened since the previous one (at least 1s)',
    ),
  metricsDimension: z
    .record(
      z
        .string()
        .regex(
          /^[A-Za-z0-9][A-Za-z0-9_.\-/#]{0,254}$/,
          'dimension names are letters, digits and _ . - / # (at most 255)',
        )
        .refine(
          (name) => !(RESERVED_DIMENSIONS as readonly string[]).includes(name),
          `${RESERVED_DIMENSIONS.join(', ')} are set by s3worker`,
        ),
      z.string().min(1).max(1024),
    )
    .default({})
    .refine((d) => Object.keys(d).length <= MAX_EXTRA_DIMENSIONS, {
      message: `at most ${MAX_EXTRA_DIMENSIONS} extra dimensions (CloudWatch allows 30 in a set)`,
    })
    .describe(
      'an extra dimension on every metric (name=value, repeatable), e.g. Environment=prod; each distinct value is a separate CloudWatch metric (billed)',
    ),
});

export type MetricsOptions = z.infer<typeof metricsOptionsSchema>;
