import { z } from 'zod';
import { s3UrlProblems, s3UrlSchema } from '../../config/s3-location.js';
import { parseQueueUrl } from '../kit/queue/queue-url.js';

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
  input: s3UrlSchema.describe(
    'Objects to enqueue: s3://bucket/prefix (every key under the prefix, listed in key order). Required.',
  ),
  checkpoint: z
    .string()
    .min(1)
    .superRefine((text, ctx) => {
      if (!text.startsWith('s3://')) return;
      for (const message of s3UrlProblems(text)) ctx.addIssue({ code: 'custom', message });
      if (/^s3:\/\/[^/]*\/?$/.test(text) || text.endsWith('/')) {
        ctx.addIssue({ code: 'custom', message: 'must name an object: s3://bucket/key' });
      }
    })
    .optional()
    .describe(
      'Where to keep how far the run got: s3://bucket/key or a local file. A run started again with the same checkpoint lists after the last key it holds; one that finished sends nothing. Default: none, a re-run starts from the first key.',
    ),
  checkpointEvery: z
    .int()
    .min(1)
    .default(100)
    .describe(
      'Write the checkpoint after this many batches of 10 messages (and at the end, or on SIGTERM). Default 100: a PutObject per 1,000 messages; a killed run sends again at most this many batches plus those in flight.',
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
