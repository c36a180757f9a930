import { z } from 'zod';
import { durationSchema } from '../../config/duration-schema.js';
import { s3UrlProblems, s3UrlSchema } from '../../config/s3-location.js';
import { sizeInRange, sizeSchema } from '../../config/size-schema.js';
import type { ConfigIssue } from '../../errors.js';
import {
  applyDefaultSuffixes,
  BUILTIN_TRANSFORMS,
  MAX_CODEC_BLOCK_SIZE,
} from '../kit/builtin-transforms.js';
import {
  KEY_TEMPLATE_FIELDS,
  prefixFolder,
  renderKeyTemplate,
  unknownPlaceholders,
} from '../kit/key-template.js';
import { outputOptionProblems, outputOptionsSchema } from '../kit/output-options.js';
import { outputsReadBack } from '../kit/outputs-read-back.js';
import { GZIP_BLOCK_SIZE, GZIP_MIN_BLOCK_SIZE } from '../kit/parallel-gzip.js';
import { ZSTD_BLOCK_SIZE, ZSTD_MIN_BLOCK_SIZE } from '../kit/parallel-zstd.js';
import { queueOptionsSchema } from '../kit/queue/queue-options.js';
import { createObjectFilter } from './filters.js';
import { queueModeProblems } from './queue/queue-mode-problems.js';
import { reportSourceProblems } from './report-source-problems.js';
import { parseShard } from './shard.js';

const isoDate = z.string().transform((text, ctx): Date => {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({
      code: 'custom',
      message: `not a date: ${JSON.stringify(text)} (use ISO 8601, e.g. 2026-01-31 or 2026-01-31T12:00:00Z)`,
      input: text,
    });
    return z.NEVER;
  }
  return date;
});

/** An `s3://bucket/key` naming one object (a report), not a prefix. */
function reportUrl(example: string) {
  return z.string().superRefine((url, ctx) => {
    for (const message of s3UrlProblems(url)) ctx.addIssue({ code: 'custom', message });
    if (url.startsWith('s3://') && (url.endsWith('/') || !url.slice(5).includes('/'))) {
      ctx.addIssue({
        code: 'custom',
        message: `must name the report object itself (s3://bucket/…/${example}), not a prefix`,
      });
    }
  });
}

/**
 * Options of the stream-transform job. The CLI derives `--kebab-case` flags and
 * `S3WORKER_UPPER_SNAKE` environment names from the keys and prints each description in
 * `--help`; sizes accept `8MiB`/`5MB`/bytes and durations `25s`/`24h`.
 */
export const streamTransformConfigSchema = z.object({
  input: s3UrlSchema.describe(
    'Objects to read: s3://bucket/prefix (every key under the prefix). Required.',
  ),
  output: s3UrlSchema.describe(
    'Where outputs go: s3://bucket/prefix; each output key is the prefix + the key template. Required.',
  ),
  include: z
    .array(z.string().min(1))
    .default([])
    .describe(
      'Glob(s) matched against the key relative to the input prefix (`*` stays within a folder, `**` crosses); only matching keys are processed. Default: all. Repeatable.',
    ),
  exclude: z
    .array(z.string().min(1))
    .default([])
    .describe('Glob(s) of relative keys to skip; wins over --include. Default: none. Repeatable.'),
  minSize: sizeSchema
    .optional()
    .describe('Skip objects smaller than this (e.g. 1KiB). Default: no bound.'),
  maxSize: sizeSchema
    .optional()
    .describe('Skip objects larger than this (e.g. 10GiB). Default: no bound.'),
  modifiedAfter: isoDate
    .optional()
    .describe('Only objects last modified at or after this ISO 8601 time. Default: no bound.'),
  modifiedBefore: isoDate
    .optional()
    .describe('Only objects last modified before this ISO 8601 time. Default: no bound.'),
  keys: z
    .string()
    .min(1)
    .refine((v) => !v.startsWith('s3://') || s3UrlProblems(v).length === 0, {
      message: 'not a valid s3://bucket/key URL',
    })
    .optional()
    .describe(
      'Process exactly these keys instead of listing: a local file or s3://bucket/key, one key per line (full keys, streamed). Costs one HeadObject per key. Default: list the input prefix.',
    ),
  inventory: reportUrl('manifest.json')
    .optional()
    .describe(
      'Process the objects of an S3 Inventory report instead of listing: s3://bucket/…/manifest.json (CSV or Parquet). Every data file is checked against the manifest MD5 before any work; the report size and ETag stand in for a listing (no HeadObject) and an object changed since is skipped. Costs one GET per data file and disk in the tmp dir for them. Default: list the input prefix.',
    ),
  manifest: reportUrl('manifest.csv')
    .optional()
    .describe(
      'Process the objects of an S3 Batch Operations CSV manifest (bucket,key[,versionId], keys URL-encoded) instead of listing: s3://bucket/key, streamed. Costs one HeadObject per object (of the named version). Default: list the input prefix.',
    ),
  keyTemplate: z
    .string()
    .min(1)
    .superRefine((template, ctx) => {
      for (const name of unknownPlaceholders(template)) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown placeholder {${name}}; use ${KEY_TEMPLATE_FIELDS.map((f) => `{${f}}`).join(', ')}`,
        });
      }
    })
    .optional()
    .describe(
      'Output key below the output prefix: {key} (full source key), {relkey} (relative to the input prefix), {dir}, {name}, {ext} (e.g. "{dir}/{name}.json.gz"). Default: {relkey} with .gz/.zst added by gzip/zstd and removed by gunzip/unzstd.',
    ),
  transform: z
    .array(z.enum(BUILTIN_TRANSFORMS))
    .default(['identity'])
    .describe(
      `Transform(s) applied in order: ${BUILTIN_TRANSFORMS.join(', ')}. Repeat to chain (gunzip then zstd). Default: identity (copy through).`,
    ),
  gzipLevel: z
    .int()
    .min(0)
    .max(9)
    .default(6)
    .describe(
      'gzip level 0-9. Default 6; level 1 is about 3x faster for a slightly larger output.',
    ),
  zstdLevel: z
    .int()
    .min(1)
    .max(22)
    .default(3)
    .describe('zstd level 1-22. Default 3; higher levels cost much more CPU for a few percent.'),
  gzipBlockSize: sizeInRange({ min: GZIP_MIN_BLOCK_SIZE, max: MAX_CODEC_BLOCK_SIZE })
    .default(GZIP_BLOCK_SIZE)
    .describe(
      'Input bytes per gzip block, each compressed on its own core (32KiB-256MiB). Default 1MiB. Costs no ratio (each block is primed with the last 32 KiB); memory: about 2 x block size per core, per object.',
    ),
  zstdBlockSize: sizeInRange({ min: ZSTD_MIN_BLOCK_SIZE, max: MAX_CODEC_BLOCK_SIZE })
    .default(ZSTD_BLOCK_SIZE)
    .describe(
      'Input bytes per zstd frame, each compressed on its own core (64KiB-256MiB). Default 4MiB. Frames do not share history: on log text 4MiB costs +0.1% output at level 1, +1.6% at 3, +12% at 9; 16MiB about a quarter of that. Memory: about 2 x block size per core, per object.',
    ),
  concurrency: z
    .int()
    .min(1)
    .max(1000)
    .default(8)
    .describe(
      'Objects processed at once. Default 8. Each uses up to one socket per part/range in flight; memory is bounded by --max-buffered-bytes.',
    ),
  overwrite: z
    .boolean()
    .default(false)
    .describe(
      'Replace outputs that exist but were not made from the same source version by the same transforms. Default false: writes use If-None-Match and such an output is reported as a failure (OutputExists). Outputs that already match their source are always skipped.',
    ),
  maxFailures: z
    .int()
    .min(0)
    .optional()
    .describe(
      'Stop starting new objects once more than this many failed (0 = stop at the first failure). Default: unlimited.',
    ),
  failureReport: z
    .string()
    .min(1)
    .optional()
    .describe('Also write the JSON failure report to this local path. Default: none.'),
  uploadFailureReport: z
    .boolean()
    .default(true)
    .describe(
      'Write the failure report to <output prefix>/_s3worker/failures-<runId>.json when an object failed. Default true.',
    ),
  dryRun: z
    .boolean()
    .default(false)
    .describe(
      'List what would be done (source key -> output key, write or skip) without writing. Costs the listing and one HeadObject per object. Default false.',
    ),
  contentType: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Content-Type of every output. Default: application/gzip or application/zstd after gzip/zstd, else guessed from the output extension, else application/octet-stream.',
    ),
  shard: z
    .string()
    .superRefine((text, ctx) => {
      const shard = parseShard(text);
      if (typeof shard === 'string') ctx.addIssue({ code: 'custom', message: shard });
    })
    .optional()
    .describe(
      'Process only shard INDEX/COUNT (0-based, e.g. 2/8) of the keys, by a stable hash of each key; N tasks with 0/N..N-1/N cover every key once. Default: AWS_BATCH_JOB_ARRAY_INDEX/AWS_BATCH_JOB_ARRAY_SIZE when set, else all keys.',
    ),
  sweepAge: durationSchema
    .default(24 * 3_600_000)
    .describe(
      'At start, abort incomplete multipart uploads under the output prefix started longer ago than this (left by a killed task); 0 turns the sweep off. Default 24h.',
    ),
  ...outputOptionsSchema.shape,
  ...queueOptionsSchema.shape,
});

/** The parsed options of the stream-transform job. */
export type StreamTransformConfig = z.infer<typeof streamTransformConfigSchema>;
/** The options as written in a config file or given to `parse` (sizes as `8MiB`, etc.). */
export type StreamTransformConfigInput = z.input<typeof streamTransformConfigSchema>;

/**
 * Checks that involve several fields (kept out of the schema so the runtime can extend it with
 * its own options). Empty when the config is consistent.
 */
export function crossFieldProblems(config: StreamTransformConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [
    ...outputOptionProblems(config),
    ...queueModeProblems(config),
    ...reportSourceProblems(config),
  ];
  if (
    config.minSize !== undefined &&
    config.maxSize !== undefined &&
    config.minSize > config.maxSize
  ) {
    issues.push({ path: 'minSize', message: 'is larger than maxSize: no object could match' });
  }
  if (
    config.modifiedAfter !== undefined &&
    config.modifiedBefore !== undefined &&
    config.modifiedAfter >= config.modifiedBefore
  ) {
    issues.push({
      path: 'modifiedAfter',
      message: 'is not before modifiedBefore: no object could match',
    });
  }
  const { input, output } = config;
  const sameFolder =
    input.bucket === output.bucket && prefixFolder(input.prefix) === prefixFolder(output.prefix);
  const identityOnly = config.transform.every((t) => t === 'identity');
  if (sameFolder && identityOnly && !config.keyTemplate) {
    issues.push({
      path: 'output',
      message:
        'is the same location as input with an identity transform: every output would be its own source',
    });
  } else if (sameFolder) {
    const accepts = createObjectFilter({ include: config.include, exclude: config.exclude });
    const readBack = outputsReadBack({
      accepts: (relKey) => accepts({ relKey, size: 0 }),
      outputKeyOf: (relKey) =>
        config.keyTemplate === undefined
          ? applyDefaultSuffixes(relKey, config.transform)
          : renderKeyTemplate(config.keyTemplate, {
              key: `${prefixFolder(input.prefix)}${relKey}`,
              relKey,
            }),
    });
    if (readBack !== undefined) {
      const out = config.keyTemplate
        ? renderKeyTemplate(config.keyTemplate, {
            key: `${prefixFolder(input.prefix)}${readBack}`,
            relKey: readBack,
          })
        : applyDefaultSuffixes(readBack, config.transform);
      issues.push({
        path: 'output',
        message: `is the same location as input: the output ${JSON.stringify(out)} of ${JSON.stringify(readBack)} would be read back as an input (and transformed again); use another output prefix, or an --exclude that matches every output (e.g. "**/*.gz")`,
      });
    }
  }
  return issues;
}
