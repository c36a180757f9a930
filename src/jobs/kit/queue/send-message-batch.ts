import { setTimeout as sleep } from 'node:timers/promises';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { isTransientError } from '../../../transfer/transient-retry.js';
import { explainSqsError, sqsErrorCode } from './explain-sqs-error.js';
import type { QueueAddress } from './queue-url.js';

/** SQS takes at most 256 KiB of message bodies (and attributes) per SendMessageBatch. */
export const SQS_BATCH_BYTES = 256 * 1024;

/** How one message of a batch ended. */
export type SentMessage =
  | { ok: true }
  /** Refused for good (`SenderFault`, or still failing after every attempt). */
  | { ok: false; code: string; message: string };

/** Options of {@link sendMessageBatch}. */
export interface SendMessageBatchOptions {
  /** Only `send` is used: tests pass a fake. */
  client: Pick<SQSClient, 'send'>;
  queue: QueueAddress;
  /** Aborts the request and the waits between attempts; the call then throws. */
  signal?: AbortSignal | undefined;
  /**
   * Attempts per message, the first included, for entries SQS fails on its side (`SenderFault`
   * false) and for requests that fail transiently once the SDK's own attempts are spent.
   * Default 8 (waits of 0.2, 0.4 … 12.8 s between them, about 25 s in all).
   */
  attempts?: number;
  /** The first wait between attempts, doubled each time up to 20 s. Default 200 ms. */
  baseDelayMs?: number;
  /** Called before each retry with the number of messages sent again and why. */
  onRetry?: (messages: number, code: string) => void;
}

/** SQS answers that ask for the same request later. */
const TRANSIENT_SQS_CODES = new Set([
  'RequestThrottled',
  'ThrottlingException',
  'KmsThrottled',
  'ServiceUnavailable',
  'InternalFailure',
  'InternalError',
]);

/**
 * Sends `bodies` (at most 10, at most {@link SQS_BATCH_BYTES} together) as one SendMessageBatch
 * and returns one result per body, in order. SendMessageBatch succeeds as a request while failing
 * some of its entries: entries SQS failed on its side are sent again (only those) with backoff;
 * entries refused as the sender's fault (a body SQS will never take) fail at once. A request that
 * fails transiently after the SDK's own retries is sent again the same way; any other request
 * error (access denied, no such queue) throws, explained (`explainSqsError`).
 */
export async function sendMessageBatch(
  bodies: readonly string[],
  options: SendMessageBatchOptions,
): Promise<SentMessage[]> {
  const { client, queue, signal } = options;
  const attempts = options.attempts ?? 8;
  const baseDelayMs = options.baseDelayMs ?? 200;
  const results: Array<SentMessage | undefined> = bodies.map(() => undefined);
  let pending = bodies.map((_, i) => i);
  for (let attempt = 1; ; attempt++) {
    let retry: number[] = [];
    let why = '';
    try {
      const out = await client.send(
        new SendMessageBatchCommand({
          QueueUrl: queue.url,
          Entries: pending.map((i) => ({ Id: String(i), MessageBody: bodies[i] })),
        }),
        { abortSignal: signal },
      );
      for (const s of out.Successful ?? []) results[Number(s.Id)] = { ok: true };
      for (const f of out.Failed ?? []) {
        const i = Number(f.Id);
        const failed = { ok: false as const, code: f.Code ?? 'Failed', message: f.Message ?? '' };
        if (f.SenderFault) results[i] = failed;
        else {
          retry.push(i);
          why = failed.code;
        }
      }
      // An entry the answer does not mention was not taken: send it again.
      for (const i of pending) {
        if (results[i] === undefined && !retry.includes(i)) {
          retry.push(i);
          why ||= 'NoResult';
        }
      }
    } catch (err) {
      if (signal?.aborted) throw err;
      const code = sqsErrorCode(err);
      if (!isTransientError(err) && !TRANSIENT_SQS_CODES.has(code)) {
        throw explainSqsError(err, 'sqs:SendMessage', queue);
      }
      if (attempt >= attempts) throw explainSqsError(err, 'sqs:SendMessage', queue);
      retry = pending;
      why = code;
    }
    if (retry.length === 0) break;
    if (attempt >= attempts) {
      for (const i of retry) {
        results[i] ??= {
          ok: false,
          code: why,
          message: `still failing after ${attempts} attempts`,
        };
      }
      break;
    }
    options.onRetry?.(retry.length, why);
    await sleep(Math.min(baseDelayMs * 2 ** (attempt - 1), 20_000), undefined, { signal });
    pending = retry.sort((a, b) => a - b);
  }
  return results.map((r) => r ?? { ok: false, code: 'NoResult', message: 'no answer' });
}
