import { ConfigError } from '../../errors.js';
import { Job, type JobContext, type JobResult } from '../job.js';
import {
  batchManifestReadPermission,
  inventoryReadPermission,
} from '../kit/object-reports/report-read-permissions.js';
import { kmsKeyScope } from '../kit/output-options.js';
import { parseQueueUrl } from '../kit/queue/queue-url.js';
import type { Permission } from '../permissions.js';
import { checkpointPermissions } from './checkpoint.js';
import { type EnqueueConfig, enqueueConfigSchema, enqueueSourceProblems } from './config.js';
import { EnqueueRun } from './enqueue-run.js';

/**
 * The enqueue job (`s3worker enqueue`): one S3 event message per object of a listing, an S3
 * Inventory report or a Batch Operations manifest, sent to an SQS queue in SendMessageBatch
 * requests of 10, so that `stream-transform --queue` workers (an ECS service scaling on the
 * backlog) do a backfill across as many tasks as it needs. Resumable from a checkpoint
 * (`--checkpoint`); see docs/queue-mode.md, "Backfills: enqueue".
 */
export class EnqueueJob extends Job<EnqueueConfig> {
  static override readonly jobName: string = 'enqueue';
  static override readonly description: string =
    'Send one S3 event message per object (of a listing, an S3 Inventory report or a Batch Operations manifest) to an SQS queue, for queue-mode workers to backfill';
  static override readonly configSchema = enqueueConfigSchema;

  constructor(config: EnqueueConfig) {
    super(config);
    const issues = enqueueSourceProblems(config);
    if (issues.length > 0) throw new ConfigError(issues);
  }

  /**
   * Listing the input (or reading the report), sending to the queue, the checkpoint's object,
   * the queue's KMS key. No access to the objects themselves: the workers read them.
   */
  permissions(): Permission[] {
    const { input, inventory, manifest, queue, checkpoint, queueKmsKey } = this.config;
    const perms: Permission[] = [];
    if (input !== undefined) {
      perms.push({
        action: 's3:ListBucket',
        bucket: input.bucket,
        prefix: input.prefix,
        reason: 'list the objects to enqueue',
      });
    }
    if (inventory !== undefined) perms.push(inventoryReadPermission(inventory));
    if (manifest !== undefined) perms.push(batchManifestReadPermission(manifest));
    const address = parseQueueUrl(queue);
    if (typeof address !== 'string') {
      perms.push({
        action: 'sqs:SendMessage',
        resource: address.arn,
        url: queue,
        reason: 'send one S3 event message per object (SendMessageBatch)',
      });
    }
    perms.push(...checkpointPermissions(checkpoint));
    if (queueKmsKey !== undefined) {
      for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
        perms.push({
          action,
          ...kmsKeyScope(queueKmsKey),
          reason: 'send messages to a queue encrypted with SSE-KMS',
        });
      }
    }
    return perms;
  }

  /** The S3 client only lists and keeps the checkpoint (SQS has its own client and sockets). */
  override maxSockets(): number {
    return 4;
  }

  async run(ctx: JobContext<EnqueueConfig>): Promise<JobResult> {
    return new EnqueueRun(this.config, ctx).run();
  }
}
