import { z } from 'zod';
import { durationSchema } from '../../config/duration-schema.js';
import { s3UrlSchema } from '../../config/s3-location.js';
import { sizeInRange } from '../../config/size-schema.js';
import type { ConfigIssue } from '../../errors.js';
import { CODECS } from '../kit/compression.js';
import { templatePlaceholders } from '../kit/key-template.js';
import { outputOptionProblems, outputOptionsSchema } from '../kit/output-options.js';
import { KEY_FIELDS } from './key-fields.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** The path that means "read standard input". */
export const STDIN_PATH = '-';

/** The default key template: hourly folders, one object per batch, named by task and sequence. */
export const DEFAULT_KEY_TEMPLATE = '{yyyy}/{MM}/{dd}/{HH}/{taskId}-{seq}{ext}';

/**
 * Options of the ship-logs job. Flags, `S3WORKER_*` environment names and `--help` are derived
 * from the keys and descriptions; sizes accept `64MiB`, durations `60s`.
 */
export const shipLogsConfigSchema = z.object({
  path: z
    .array(z.string().min(1))
    .min(1)
    .describe(
      'Files to tail: a path or glob (`/var/log/app/*.log`; `*` stays in a folder, `**` crosses), repeatable; new files that match are picked up while running. `-` reads standard input instead. Required.',
    ),
  exclude: z
    .array(z.string().min(1))
    .default(['*.gz', '*.zst', '*.bz2', '*.xz', '*.zip'])
    .describe(
      'Globs of files never read, matched against the file name (or the whole path when the glob has a /); wins over --path. Default: compressed rotations (*.gz, *.zst, *.bz2, *.xz, *.zip). Repeatable.',
    ),
  output: s3UrlSchema.describe(
    'Where batches go: s3://bucket/prefix; each object key is the prefix + the key template. Required.',
  ),
  keyTemplate: z
    .string()
    .min(1)
    .superRefine((template, ctx) => {
      for (const name of templatePlaceholders(template)) {
        if (!(KEY_FIELDS as readonly string[]).includes(name)) {
          ctx.addIssue({
            code: 'custom',
            message: `unknown placeholder {${name}}; use ${KEY_FIELDS.map((f) => `{${f}}`).join(', ')}`,
          });
        }
      }
      if (!template.includes('{seq}')) {
        ctx.addIssue({
          code: 'custom',
          message: 'must contain {seq}, the batch number that keeps keys from colliding',
        });
      }
    })
    .default(DEFAULT_KEY_TEMPLATE)
    .describe(
      'Object key below the output prefix. Placeholders: {yyyy} {MM} {dd} {HH} {mm} (UTC, when the batch was opened), {hostname}, {cluster} {family} {taskId} (ECS task metadata; outside ECS {taskId} is the host name and the others "none"), {seq} (batch number, 10 digits, increasing across restarts), {ext} (.log or .ndjson, plus .gz/.zst). Must contain {seq}.',
    ),
  format: z
    .enum(['raw', 'ndjson'])
    .default('raw')
    .describe(
      'raw ships lines as they are; ndjson wraps each line as a JSON record with timestamp, file, message and the task metadata. Default raw.',
    ),
  compression: z
    .enum(CODECS)
    .default('gzip')
    .describe('Compression of each batch: gzip, zstd or none. Default gzip.'),
  contentEncoding: z
    .enum(['codec', 'none'])
    .default('codec')
    .describe(
      "codec: each compressed batch carries Content-Encoding gzip or zstd and the lines' Content-Type (text/plain or application/x-ndjson), as Fluent Bit's and Vector's S3 outputs write them. none: no Content-Encoding and the codec's Content-Type (application/gzip, application/zstd), so HTTP clients download the object as the compressed file it is. Default codec.",
    ),
  compressionLevel: z
    .int()
    .min(1)
    .max(22)
    .optional()
    .describe(
      'Compression level: gzip 1-9 (default 6; 1 is about 3x faster for a slightly larger batch), zstd 1-22 (default 3).',
    ),
  maxBatchBytes: sizeInRange({ min: 1 * KiB, max: 5 * GiB })
    .default(64 * MiB)
    .describe(
      'Seal a batch once it holds this many bytes of lines (before compression). Default 64MiB. Memory does not grow with it: a batch streams through compression into the spool.',
    ),
  maxBatchAge: durationSchema
    .refine((ms) => ms >= 100, 'must be at least 100ms')
    .default(60_000)
    .describe(
      'Seal a batch this long after its first line, whichever of size and age comes first. Default 60s: at most a minute of lines waits locally before it is uploaded.',
    ),
  startAt: z
    .enum(['beginning', 'end'])
    .optional()
    .describe(
      'Where to start a file seen for the first time on the very first start (no checkpoint yet): beginning or end. Files that appear later, and every file once a checkpoint exists, are read from the beginning. Default: end, or beginning with --once.',
    ),
  once: z
    .boolean()
    .default(false)
    .describe(
      'Read every matching file to its end (including a last line without a newline), upload, and exit, instead of following the files. Default false.',
    ),
  pollInterval: durationSchema
    .refine((ms) => ms >= 10, 'must be at least 10ms')
    .default(250)
    .describe(
      'How often the files are checked for new lines, rotation, truncation and new files. Default 250ms; each check costs a few system calls per file.',
    ),
  rotateWait: durationSchema
    .default(5_000)
    .describe(
      'How long a file that was rotated away (renamed out of --path, or deleted) stays open after its last new line, for a writer that has not reopened its log yet. Default 5s.',
    ),
  maxLineBytes: sizeInRange({ min: 1 * KiB, max: 64 * MiB })
    .default(1 * MiB)
    .describe(
      'At most this much of a line waits for its newline; a longer line is shipped in pieces cut at about this size, so one endless line cannot hold unbounded memory. Default 1MiB.',
    ),
  spoolDir: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Local folder for sealed batches not yet uploaded, the checkpoint and a lock (one shipper per folder). It must survive restarts of the shipper for at-least-once delivery. Default: <S3WORKER_TMPDIR or the temp dir>/s3worker-ship-logs.',
    ),
  spoolMaxBytes: sizeInRange({ min: 1 * KiB })
    .default(1 * GiB)
    .describe(
      'Largest size of the spool (compressed batches waiting for S3). When it is full, reading pauses until uploads make room (or lines are dropped with --on-spool-full drop). Default 1GiB.',
    ),
  onSpoolFull: z
    .enum(['pause', 'drop'])
    .default('pause')
    .describe(
      'What happens to new lines while the spool is full: pause stops reading (nothing is lost while the files stay); drop discards them, counting and logging every dropped line. Default pause.',
    ),
  sweepAge: durationSchema
    .default(24 * 3_600_000)
    .describe(
      'At start, abort incomplete multipart uploads under the output prefix started longer ago than this (left by a killed shipper); 0 turns the sweep off. Default 24h.',
    ),
  ...outputOptionsSchema.shape,
});

/** The parsed options of the ship-logs job. */
export type ShipLogsConfig = z.infer<typeof shipLogsConfigSchema>;
/** The options as written in a config file (sizes as `64MiB`, etc.). */
export type ShipLogsConfigInput = z.input<typeof shipLogsConfigSchema>;

/** Checks that involve several fields. Empty when the config is consistent. */
export function shipLogsConfigProblems(config: ShipLogsConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [...outputOptionProblems(config)];
  if (config.path.includes(STDIN_PATH) && config.path.length > 1) {
    issues.push({ path: 'path', message: '`-` (standard input) cannot be mixed with files' });
  }
  const level = config.compressionLevel;
  if (level !== undefined) {
    if (config.compression === 'none') {
      issues.push({ path: 'compressionLevel', message: 'does not apply with compression none' });
    } else if (config.compression === 'gzip' && level > 9) {
      issues.push({ path: 'compressionLevel', message: 'gzip levels are 1 to 9' });
    }
  }
  return issues;
}
