import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { createSqsClient } from '../jobs/kit/queue/create-sqs-client.js';
import { explainSqsError, sqsErrorCode } from '../jobs/kit/queue/explain-sqs-error.js';
import { parseQueueUrl, type QueueAddress } from '../jobs/kit/queue/queue-url.js';
import type { Permission } from '../jobs/permissions.js';
import type { Prober } from './prober.js';

/**
 * Error codes that prove a probe got past the access check: SQS evaluates the policy before it
 * looks at the parameters, so a refused parameter or receipt handle means the action is allowed.
 */
const ALLOWED_BUT_INVALID = new Set([
  'InvalidParameterValue',
  'InvalidAttributeValue',
  'ReadCountOutOfRange',
  'ReceiptHandleIsInvalid',
  'InvalidIdFormat',
  'MessageNotInflight',
  'EmptyBatchRequest',
  'AWS.SimpleQueueService.EmptyBatchRequest',
]);

/** A receipt handle no message has: delete and visibility probes can touch nothing. */
const PROBE_RECEIPT_HANDLE = 's3worker-doctor-probe';

/**
 * Probes the `sqs:` permissions a job declares, on the queue each names by `url`, one check per
 * permission named by the job's reason: GetQueueAttributes is read for real (visibility timeout,
 * dead-letter queue), while ReceiveMessage, DeleteMessage, ChangeMessageVisibility and SendMessage
 * are sent in a form SQS must refuse for its parameters (0 messages, a receipt handle that does
 * not exist, a SendMessageBatch of no entries), so no message is received, hidden, deleted, sent
 * or counted as a receive: "invalid" proves access,
 * "access denied" disproves it. A permission without a URL is skipped.
 */
export async function probeQueuePermissions(
  probe: Prober,
  perms: readonly Permission[],
): Promise<void> {
  const clients = new Map<string, SQSClient>();
  try {
    for (const p of perms) {
      const queue = p.url === undefined ? undefined : parseQueueUrl(p.url);
      if (queue === undefined || typeof queue === 'string') {
        probe.skip(p.reason, p.action, p.resource ?? '*', 'not probed: no queue URL to probe');
        continue;
      }
      let client = clients.get(queue.url);
      if (!client) {
        client = await createSqsClient(probe.s3, queue);
        clients.set(queue.url, client);
      }
      await probeOne(probe, client, queue, p);
    }
  } finally {
    for (const client of clients.values()) client.destroy();
  }
}

async function probeOne(
  probe: Prober,
  client: SQSClient,
  queue: QueueAddress,
  p: Permission,
): Promise<void> {
  const options = () => ({ abortSignal: probe.abortSignal() });
  let send: () => Promise<string>;
  switch (p.action) {
    case 'sqs:GetQueueAttributes':
      send = async () => {
        const out = await client.send(
          new GetQueueAttributesCommand({
            QueueUrl: queue.url,
            AttributeNames: ['VisibilityTimeout', 'RedrivePolicy', 'KmsMasterKeyId'],
          }),
          options(),
        );
        const a = out.Attributes ?? {};
        const redrive = a.RedrivePolicy
          ? `dead-letter queue after ${JSON.parse(a.RedrivePolicy).maxReceiveCount} receives`
          : 'NO dead-letter queue: a failing message would be retried forever';
        const kms = a.KmsMasterKeyId
          ? `; encrypted with KMS key ${a.KmsMasterKeyId} (kms:Decrypt needed: --queue-kms-key)`
          : '';
        return `allowed; visibility timeout ${a.VisibilityTimeout ?? '?'} s, ${redrive}${kms}`;
      };
      break;
    case 'sqs:ReceiveMessage':
      send = refused(() =>
        client.send(
          new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 0 }),
          options(),
        ),
      );
      break;
    case 'sqs:DeleteMessage':
      send = refused(() =>
        client.send(
          new DeleteMessageCommand({ QueueUrl: queue.url, ReceiptHandle: PROBE_RECEIPT_HANDLE }),
          options(),
        ),
      );
      break;
    case 'sqs:ChangeMessageVisibility':
      send = refused(() =>
        client.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: queue.url,
            ReceiptHandle: PROBE_RECEIPT_HANDLE,
            VisibilityTimeout: 0,
          }),
          options(),
        ),
      );
      break;
    case 'sqs:SendMessage':
      // SendMessageBatch is authorised as sqs:SendMessage; with no entries it cannot send one.
      send = refused(() =>
        client.send(new SendMessageBatchCommand({ QueueUrl: queue.url, Entries: [] }), options()),
      );
      break;
    default:
      probe.skip(p.reason, p.action, queue.url, 'not probed: no probe for this action');
      return;
  }
  try {
    probe.pass(p.reason, p.action, queue.url, await send());
  } catch (err) {
    const e = explainSqsError(err, p.action, queue);
    probe.checks.push({
      name: p.reason,
      permission: p.action,
      target: queue.url,
      verdict: 'fail',
      detail: e.message,
      code: e.code,
      exitCode: e.exitCode,
      ...(e.hint ? { fix: e.hint } : {}),
    });
  }
}

/** A request SQS must refuse for its parameters: that refusal means access is allowed. */
function refused(send: () => Promise<unknown>): () => Promise<string> {
  return async () => {
    try {
      await send();
    } catch (err) {
      const code = sqsErrorCode(err);
      if (ALLOWED_BUT_INVALID.has(code)) {
        return `allowed (probed with a request SQS refuses as ${code}: no message touched)`;
      }
      throw err;
    }
    return 'allowed';
  };
}
