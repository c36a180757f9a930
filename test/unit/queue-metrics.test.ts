import type { S3Client } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import {
  type QueueEntry,
  QueueSource,
} from '../../src/jobs/stream-transform/queue/queue-source.js';
import { recordingReporter } from '../support/recording-reporter.js';
import { s3EventBody, testEventBody } from '../support/sqs.js';

/**
 * An in-memory SQS queue that answers the requests QueueConsumer sends and records what it was
 * asked: the test compares each metric with these records, not with the consumer's counters.
 */
class FakeSqs {
  readonly waiting: Message[] = [];
  readonly deleted: string[] = [];
  /** Receipt handles set visible again (visibility 0). */
  readonly handedBack: string[] = [];
  received = 0;

  /** A message sent `ageMs` ago (its SentTimestamp). */
  send(id: string, body: string, ageMs: number): void {
    this.waiting.push({
      MessageId: id,
      ReceiptHandle: id,
      Body: body,
      Attributes: { SentTimestamp: String(Date.now() - ageMs), ApproximateReceiveCount: '1' },
    });
  }

  readonly client = {
    send: async (command: unknown): Promise<unknown> => {
      if (command instanceof GetQueueAttributesCommand) {
        return { Attributes: { VisibilityTimeout: '30', RedrivePolicy: '' } };
      }
      if (command instanceof ReceiveMessageCommand) {
        const batch = this.waiting.splice(0, command.input.MaxNumberOfMessages ?? 1);
        this.received += batch.length;
        // An empty long poll answers after a while, as SQS does (shortened).
        if (batch.length === 0 && (command.input.WaitTimeSeconds ?? 0) > 0) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return { Messages: batch };
      }
      if (command instanceof DeleteMessageBatchCommand) {
        const entries = command.input.Entries ?? [];
        this.deleted.push(...entries.map((e) => e.ReceiptHandle ?? ''));
        return { Successful: entries.map((e) => ({ Id: e.Id })) };
      }
      if (command instanceof ChangeMessageVisibilityBatchCommand) {
        const entries = command.input.Entries ?? [];
        for (const e of entries)
          if (e.VisibilityTimeout === 0) this.handedBack.push(e.ReceiptHandle ?? '');
        return { Successful: entries.map((e) => ({ Id: e.Id })) };
      }
      throw new Error(`unexpected command ${String(command)}`);
    },
    destroy: () => {},
  };
}

const fake = new FakeSqs();
vi.mock('../../src/jobs/kit/queue/create-sqs-client.js', () => ({
  createSqsClient: async () => fake.client as unknown as SQSClient,
}));

const BUCKET = 'in-bucket';

describe('queue mode metrics', () => {
  it('each metric reads what the consumer did: received, deleted, returned, poison, oldest age', async () => {
    // Done (two objects), failed, poison, a test event (nothing to do), and one held at stop.
    fake.send(
      'done',
      s3EventBody(BUCKET, [
        { key: 'raw/a.txt', body: 'a' },
        { key: 'raw/b.txt', body: 'b' },
      ]),
      5_000,
    );
    fake.send('failed', s3EventBody(BUCKET, [{ key: 'raw/c.txt', body: 'c' }]), 3_000);
    fake.send('poison', 'this is not an event', 8_000);
    fake.send('test-event', testEventBody(BUCKET), 2_000);
    fake.send('held', s3EventBody(BUCKET, [{ key: 'raw/d.txt', body: 'd' }]), 1_000);

    const progress = recordingReporter();
    const stop = new AbortController();
    const source = await QueueSource.open({
      config: {
        queue: 'http://127.0.0.1:9/000000000000/metrics-test',
        input: { bucket: BUCKET, prefix: 'raw/' },
      },
      ctx: {
        s3: {} as S3Client,
        log: pino({ level: 'silent' }),
        signal: new AbortController().signal,
        stopSignal: stop.signal,
        progress,
      },
      isOwnOutput: () => false,
    });
    expect([...progress.metrics.keys()]).toEqual([
      'MessagesReceived',
      'MessagesDeleted',
      'MessagesReturned',
      'PoisonMessages',
      'OldestMessageAgeSeconds',
    ]);
    const read = (name: string) => progress.metrics.get(name)!.read();
    // Nothing received yet: the gauge is 0, not absent.
    expect(read('OldestMessageAgeSeconds')).toBe(0);

    const ages: Array<number | undefined> = [];
    let held: QueueEntry | undefined;
    for await (const entry of source.entries()) {
      if (entry.key === 'raw/c.txt') entry.settled('failed');
      else if (entry.key === 'raw/d.txt') {
        held = entry;
        // The poison message (8 s at receipt) arrived in this interval; then only the one held
        // (1 s old, growing) remains.
        ages.push(read('OldestMessageAgeSeconds'), read('OldestMessageAgeSeconds'));
        stop.abort();
      } else entry.settled('done');
    }
    expect(held).toBeDefined();
    await source.close();
    // Idle: nothing held, nothing received since the last line.
    ages.push(read('OldestMessageAgeSeconds'));

    expect(fake.received).toBe(5);
    expect(read('MessagesReceived')).toBe(fake.received);
    expect(fake.deleted.sort()).toEqual(['done', 'test-event']);
    expect(read('MessagesDeleted')).toBe(fake.deleted.length);
    // The held message handed back at stop, plus the failed one left to reappear after its
    // visibility timeout (neither deleted nor handed back).
    expect(fake.handedBack).toEqual(['held']);
    expect(read('MessagesReturned')).toBe(fake.handedBack.length + 1);
    expect(read('PoisonMessages')).toBe(1);
    expect(ages[0]).toBeGreaterThanOrEqual(8);
    expect(ages[1]).toBeGreaterThanOrEqual(1);
    expect(ages[1]).toBeLessThan(8);
    expect(ages[2]).toBe(0);
    // Count metrics are running totals: read again, they stay put.
    expect(read('MessagesReceived')).toBe(5);
  });
});
