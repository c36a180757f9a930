import { z } from 'zod';
import { s3UrlProblems, s3UrlSchema } from '../../config/s3-location.js';
import type { ConfigIssue } from '../../errors.js';
import { parseQueueUrl } from '../kit/queue/queue-url.js';

/** Problems of `url` as `s3://bucket/key` naming one object, added to `ctx`. */
function objectUrlProblems(url: string, example: string, ctx: z.RefinementCtx): void {
  for (const message of s3UrlProblems(url)) ctx.addIssue({ code: 'custom', message });
  if (url.startsWith('s3://') && (url.endsWith('/') || !url.slice(5).includes('/'))) {
    ctx.addIssue({
      code: 'custom',
      message: `must name an object (s3://bucket/…/${example}), not a prefix`,
    });
  }
}

/** An `s3://bucket/key` option naming one object (a report). */
function objectUrl(example: string) {
  return z.string().superRefine((url, ctx) => objectUrlProblems(url, example, ctx));
}

/**
 * Options of the enqueue job. The CLI derives `--kebab-case` flags and `S3WORKER_UPPER_SNAKE`
 * environment names from the keys and prints each description in `--help`.
 */
export const enqueueConfigSchema = z.object({
  queue: z
    .string()
    .superRefine((text, ctx) => {
      const parsed = parseQueueUrl(text);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
      else if (parsed.name.endsWith('.fifo')) {
        ctx.addIssue({
          code: 'custom',
          message:
            'is a FIFO queue; S3 event notifications and queue mode use standard queues, name one',
        });
      }
    })
    .describe(
      'SQS queue URL to send one S3 event message per object to, for `stream-transform --queue` workers. Required.',
    ),
  input: s3UrlSchema
    .optional()
    .describe(
      'Objects to enqueue: s3://bucket/prefix, every key under the prefix, listed in key order. One of input, inventory, manifest is required.',
    ),
  inventory: objectUrl('manifest.json')
    .optional()
    .describe(
      "Enqueue the objects of an S3 Inventory report instead: s3://bucket/…/manifest.json (CSV or Parquet), data files checked against the manifest's MD5 before any message, read in manifest order; the messages carry the report's size and ETag. Objects in archive storage classes are skipped. Costs one GET per data file and disk in the tmp dir for them.",
    ),
  manifest: objectUrl('manifest.csv')
    .optional()
    .describe(
      'Enqueue the objects of an S3 Batch Operations CSV manifest instead (bucket,key[,versionId]), streamed in order; the messages carry no size or ETag, so each worker costs a HeadObject per object.',
    ),
  checkpoint: z
    .string()
    .min(1)
    .superRefine((text, ctx) => {
      if (text.startsWith('s3://')) objectUrlProblems(text, 'key', ctx);
    })
    .optional()
    .describe(
      'Where to keep how far the run got: s3://bucket/key or a local file. A run started again with the same checkpoint continues after the last object it holds; one that finished sends nothing. Default: none, a re-run starts from the first key.',
    ),
  checkpointEvery: z
    .int()
    .min(1)
    .default(100)
    .describe(
      'Write the checkpoint after this many batches of 10 messages (and at the end, or on SIGTERM). Default 100: a PutObject per 1,000 messages; a killed run sends again at most this many batches plus 2 x --concurrency.',
    ),
  concurrency: z
    .int()
    .min(1)
    .max(100)
    .default(16)
    .describe(
      'SendMessageBatch requests in flight at once (10 messages each, one socket each). Default 16.',
    ),
  queueKmsKey: z
    .string()
    .min(1)
    .optional()
    .describe(
      'KMS key (id, ARN or alias) that encrypts the queue (SSE-KMS): adds kms:GenerateDataKey and kms:Decrypt on it to the policy. Default: none (SQS-managed encryption needs no KMS permission).',
    ),
});

/** The parsed options of the enqueue job. */
export type EnqueueConfig = z.infer<typeof enqueueConfigSchema>;

/** Exactly one source of objects: input, inventory or manifest. Empty when consistent. */
export function enqueueSourceProblems(config: EnqueueConfig): ConfigIssue[] {
  const given = (['input', 'inventory', 'manifest'] as const).filter(
    (f) => config[f] !== undefined,
  );
  if (given.length === 1) return [];
  return [
    {
      path: given[1] ?? 'input',
      message:
        given.length === 0
          ? 'is required: name the objects to enqueue with input, inventory or manifest'
          : `cannot be combined with ${given[0]}: give one source of objects`,
    },
  ];
}
