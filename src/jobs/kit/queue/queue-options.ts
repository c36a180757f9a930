import { z } from 'zod';
import { durationSchema } from '../../../config/duration-schema.js';
import type { ConfigIssue } from '../../../errors.js';
import type { Permission } from '../../permissions.js';
import { kmsKeyScope } from '../output-options.js';
import { parseQueueUrl } from './queue-url.js';

/** SQS caps a message's visibility timeout at 12 hours. */
export const MAX_VISIBILITY_TIMEOUT_MS = 12 * 3_600_000;

/**
 * The options of a job that takes its work from an SQS queue, as one schema fragment to spread
 * into the job's own (`...queueOptionsSchema.shape`); flags, env names and `--help` come from it.
 */
export const queueOptionsSchema = z.object({
  queue: z
    .string()
    .superRefine((text, ctx) => {
      const parsed = parseQueueUrl(text);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
    })
    .optional()
    .describe(
      'SQS queue URL: process the objects named by the S3 event notifications on this queue (sent by S3 directly, through EventBridge or SNS) instead of listing the input; --input still names the bucket and prefix they may refer to. Runs until stopped, or see --exit-when-idle. Default: list the input.',
    ),
  queueVisibilityTimeout: durationSchema
    .refine((ms) => ms >= 1000 && ms % 1000 === 0, 'must be whole seconds, at least 1s')
    .refine((ms) => ms <= MAX_VISIBILITY_TIMEOUT_MS, 'must be at most 12h (the SQS limit)')
    .optional()
    .describe(
      "How long a received message stays hidden from other workers; renewed every third of it while its objects are in flight, so a slow object is never processed twice. A killed worker's messages come back after at most this long. Default: the queue's VisibilityTimeout.",
    ),
  exitWhenIdle: durationSchema
    .refine((ms) => ms >= 1000, 'must be at least 1s')
    .optional()
    .describe(
      'Queue mode: exit 0 once no message has arrived for this long and nothing is in flight (a batch task draining the queue). Default: run until stopped (an ECS service).',
    ),
  queueKmsKey: z
    .string()
    .min(1)
    .optional()
    .describe(
      'KMS key (id, ARN or alias) that encrypts the queue (SSE-KMS): adds kms:Decrypt on it to the policy. Default: none (SQS-managed encryption needs no KMS permission).',
    ),
});

/** The parsed queue options. */
export type QueueOptions = z.infer<typeof queueOptionsSchema>;

/** Queue options that mean nothing without `queue`; empty when consistent. */
export function queueOptionProblems(config: QueueOptions): ConfigIssue[] {
  if (config.queue !== undefined) return [];
  return (['queueVisibilityTimeout', 'exitWhenIdle', 'queueKmsKey'] as const)
    .filter((field) => config[field] !== undefined)
    .map((path) => ({ path, message: 'only applies with queue (an SQS queue URL)' }));
}

/**
 * What consuming the queue needs, on the queue's ARN only: receive, delete, change visibility
 * (the heartbeat and the hand-back on SIGTERM), read its attributes (the visibility timeout and
 * the redrive policy at start); `kms:Decrypt` on the queue's key when it has one.
 */
export function queuePermissions(config: QueueOptions): Permission[] {
  if (config.queue === undefined) return [];
  const parsed = parseQueueUrl(config.queue);
  if (typeof parsed === 'string') return [];
  const resource = parsed.arn;
  const url = config.queue;
  const perms: Permission[] = [
    { action: 'sqs:ReceiveMessage', resource, url, reason: 'receive S3 event notifications' },
    {
      action: 'sqs:DeleteMessage',
      resource,
      url,
      reason: 'delete a message once every object it names is done',
    },
    {
      action: 'sqs:ChangeMessageVisibility',
      resource,
      url,
      reason: 'keep in-flight messages hidden (heartbeat) and hand unfinished ones back on SIGTERM',
    },
    {
      action: 'sqs:GetQueueAttributes',
      resource,
      url,
      reason: "read the queue's visibility timeout and redrive policy at start",
    },
  ];
  if (config.queueKmsKey !== undefined) {
    perms.push({
      action: 'kms:Decrypt',
      ...kmsKeyScope(config.queueKmsKey),
      reason: 'receive messages from a queue encrypted with SSE-KMS',
    });
  }
  return perms;
}
