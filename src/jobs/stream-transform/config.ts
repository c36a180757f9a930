import { z } from 'zod';
import { durationSchema } from '../../config/duration-schema.js';
import { sizeInRange, sizeSchema } from '../../config/size-schema.js';
import type { ConfigIssue } from '../../errors.js';
import { s3UrlProblems, s3UrlSchema } from '../../s3/location.js';
import { BUILTIN_TRANSFORMS } from './builtin-transforms.js';
import { KEY_TEMPLATE_FIELDS, unknownPlaceholders } from './key-template.js';
import { SOURCE_METADATA } from './resume.js';
import { parseShard } from './shard.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** S3 storage classes an output may be written with. */
export const STORAGE_CLASSES = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'DEEP_ARCHIVE',
  'GLACIER_IR',
  'EXPRESS_ONEZONE',
] as const;

/** Checksums the SDK can compute on upload (and S3 verifies). */
export const CHECKSUM_ALGORITHMS = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const;

const RESERVED_META = 's3worker-';

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
  concurrency: z
    .int()
    .min(1)
    .max(1000)
    .default(8)
    .describe(
      'Objects processed at once. Default 8. Each uses up to one socket per part/range in flight; memory is bounded by --max-buffered-bytes.',
    ),
  partSize: sizeInRange({ min: 5 * MiB, max: 5 * GiB })
    .default(8 * MiB)
    .describe(
      'Multipart part size, 5MiB-5GiB. Default 8MiB (caps one output at about 78 GiB: 10,000 parts). Outputs smaller than one part go up as one PutObject.',
    ),
  queueSize: z
    .int()
    .min(1)
    .max(64)
    .default(4)
    .describe(
      'Parts in flight per upload. Default 4. Memory: up to queue-size x part-size per upload, within the global budget.',
    ),
  maxBufferedBytes: sizeInRange({ min: 5 * MiB })
    .default(128 * MiB)
    .describe(
      'One bound on bytes buffered by all downloads and uploads together, so memory stays flat whatever the object sizes. Default 128MiB.',
    ),
  rangeThreshold: sizeInRange({ min: 1 })
    .default(64 * MiB)
    .describe('Objects at least this big are downloaded with parallel ranged GETs. Default 64MiB.'),
  rangeSize: sizeInRange({ min: 1 * MiB })
    .default(8 * MiB)
    .describe('Bytes per ranged GET. Default 8MiB.'),
  rangeConcurrency: z
    .int()
    .min(1)
    .max(64)
    .default(2)
    .describe(
      'Ranged GETs in flight per large object. Default 2 (enough to keep one upload of 4 parts busy; raise it where each connection is slow); memory up to range-concurrency x range-size, within the budget.',
    ),
  overwrite: z
    .boolean()
    .default(false)
    .describe(
      'Replace outputs that exist but were not made from the same source version by the same transforms. Default false: writes use If-None-Match and such an output is reported as a failure (OutputExists). Outputs that already match their source are always skipped.',
    ),
  checksumAlgorithm: z
    .enum(CHECKSUM_ALGORITHMS)
    .optional()
    .describe(
      "Checksum sent with each upload request and verified by S3. Default: the client's (CRC32).",
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
  storageClass: z
    .enum(STORAGE_CLASSES)
    .optional()
    .describe('Storage class of outputs. Default: the bucket default (STANDARD).'),
  sse: z
    .enum(['AES256', 'aws:kms'])
    .optional()
    .describe('Server-side encryption of outputs: AES256 or aws:kms. Default: the bucket default.'),
  sseKmsKeyId: z
    .string()
    .min(1)
    .optional()
    .describe("KMS key id or ARN when --sse aws:kms. Default: the account's aws/s3 key."),
  contentType: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Content-Type of every output. Default: application/gzip or application/zstd after gzip/zstd, else guessed from the output extension, else application/octet-stream.',
    ),
  metadata: z
    .record(
      z.string().regex(/^[A-Za-z0-9-_.]+$/, 'metadata names are letters, digits, -, _ and .'),
      z.string(),
    )
    .default({})
    .refine((m) => !Object.keys(m).some((k) => k.toLowerCase().startsWith(RESERVED_META)), {
      message: `metadata names starting with ${RESERVED_META} are reserved (they record the source, e.g. ${SOURCE_METADATA.etag})`,
    })
    .describe('Extra user metadata on every output (key=value, repeatable). Default: none.'),
  tags: z
    .record(z.string().min(1).max(128), z.string().max(256))
    .default({})
    .refine((t) => Object.keys(t).length <= 10, { message: 'S3 allows at most 10 tags per object' })
    .describe(
      'Tags on every output (key=value, repeatable, at most 10). Needs s3:PutObjectTagging. Default: none.',
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
  const issues: ConfigIssue[] = [];
  if (config.sseKmsKeyId !== undefined && config.sse !== 'aws:kms') {
    issues.push({ path: 'sseKmsKeyId', message: 'only applies with sse: aws:kms' });
  }
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
  if (input.bucket === output.bucket && input.prefix === output.prefix && !config.keyTemplate) {
    const identityOnly = config.transform.every((t) => t === 'identity');
    if (identityOnly) {
      issues.push({
        path: 'output',
        message:
          'is the same location as input with an identity transform: every output would be its own source',
      });
    }
  }
  return issues;
}
