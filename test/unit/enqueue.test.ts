import type { SendMessageBatchCommand, SendMessageBatchCommandOutput } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { BatchWatermark } from '../../src/jobs/enqueue/batch-watermark.js';
import type { SourceEntry } from '../../src/jobs/enqueue/enqueue-source.js';
import { messageBatches } from '../../src/jobs/enqueue/message-batches.js';
import type { ReportedObject } from '../../src/jobs/kit/object-reports/reported-object.js';
import { parseQueueUrl, type QueueAddress } from '../../src/jobs/kit/queue/queue-url.js';
import { s3EventBody } from '../../src/jobs/kit/queue/s3-event-body.js';
import { parseS3EventMessage } from '../../src/jobs/kit/queue/s3-event-message.js';
import { SQS_BATCH_BYTES, sendMessageBatch } from '../../src/jobs/kit/queue/send-message-batch.js';

const queue = parseQueueUrl(
  'https://sqs.eu-west-1.amazonaws.com/123456789012/backfill',
) as QueueAddress;

/** A SendMessageBatch answer as far as the sender reads it (ids of the entries sent and failed). */
type Answer =
  | {
      Successful?: Array<{ Id: string }>;
      Failed?: SendMessageBatchCommandOutput['Failed'];
    }
  | Error;

/** An SQS client that answers each SendMessageBatch with the next of `answers`; records the Ids sent. */
function fakeSqs(answers: Array<(ids: string[]) => Answer>) {
  const calls: string[][] = [];
  return {
    calls,
    client: {
      send: async (command: SendMessageBatchCommand) => {
        const ids = (command.input.Entries ?? []).map((e) => e.Id!);
        calls.push(ids);
        const answer = answers[calls.length - 1]?.(ids);
        if (answer === undefined) throw new Error('no more answers');
        if (answer instanceof Error) throw answer;
        return answer;
      },
    } as never,
  };
}

const ok = (ids: string[]) => ({ Successful: ids.map((Id) => ({ Id })), Failed: [] });

function sdkError(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

describe('sendMessageBatch', () => {
  const bodies = Array.from({ length: 10 }, (_, i) => `message ${i}`);

  it('sends again only the entries SQS failed on its side, and fails at once those it refused as the sender fault', async () => {
    const { client, calls } = fakeSqs([
      (ids) => ({
        Successful: ids.filter((id) => !['1', '3', '5'].includes(id)).map((Id) => ({ Id })),
        Failed: [
          { Id: '1', SenderFault: false, Code: 'InternalError', Message: 'try again' },
          { Id: '3', SenderFault: false, Code: 'InternalError', Message: 'try again' },
          { Id: '5', SenderFault: true, Code: 'InvalidMessageContents', Message: 'bad' },
        ],
      }),
      () => ({
        Successful: [{ Id: '1' }],
        Failed: [{ Id: '3', SenderFault: false, Code: 'ServiceUnavailable', Message: 'busy' }],
      }),
      ok,
    ]);
    const retries: Array<[number, string]> = [];
    const results = await sendMessageBatch(bodies, {
      client,
      queue,
      baseDelayMs: 1,
      onRetry: (n, code) => retries.push([n, code]),
    });
    expect(calls).toEqual([['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], ['1', '3'], ['3']]);
    expect(retries).toEqual([
      [2, 'InternalError'],
      [1, 'ServiceUnavailable'],
    ]);
    expect(results.map((r) => r.ok)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
      true,
      true,
      true,
      true,
    ]);
    expect(results[5]).toEqual({ ok: false, code: 'InvalidMessageContents', message: 'bad' });
  });

  it('an entry the answer does not mention is sent again', async () => {
    const { client, calls } = fakeSqs([() => ({ Successful: [{ Id: '0' }] }), ok]);
    const results = await sendMessageBatch(['a', 'b'], { client, queue, baseDelayMs: 1 });
    expect(calls).toEqual([['0', '1'], ['1']]);
    expect(results).toEqual([{ ok: true }, { ok: true }]);
  });

  it('an entry still failing after every attempt fails, the others are sent', async () => {
    const failing = (ids: string[]) => ({
      Successful: ids.filter((id) => id !== '0').map((Id) => ({ Id })),
      Failed: [{ Id: '0', SenderFault: false, Code: 'InternalError', Message: '' }],
    });
    const { client, calls } = fakeSqs([failing, failing, failing]);
    const results = await sendMessageBatch(['a', 'b'], {
      client,
      queue,
      attempts: 3,
      baseDelayMs: 1,
    });
    expect(calls).toHaveLength(3);
    expect(results[0]).toMatchObject({ ok: false, code: 'InternalError' });
    expect(results[1]).toEqual({ ok: true });
  });

  it('a request that failed transiently is sent again whole; access denied throws at once, explained', async () => {
    const throttled = fakeSqs([() => sdkError('ThrottlingException', 400), ok]);
    const results = await sendMessageBatch(['a', 'b'], {
      client: throttled.client,
      queue,
      baseDelayMs: 1,
    });
    expect(throttled.calls).toEqual([
      ['0', '1'],
      ['0', '1'],
    ]);
    expect(results).toEqual([{ ok: true }, { ok: true }]);

    const denied = fakeSqs([() => sdkError('AccessDenied', 403), ok]);
    await expect(
      sendMessageBatch(['a'], { client: denied.client, queue, baseDelayMs: 1 }),
    ).rejects.toMatchObject({
      code: 'ACCESS_DENIED',
      message: expect.stringMatching(/sqs:SendMessage/),
    });
    expect(denied.calls).toHaveLength(1);
  });
});

describe('s3EventBody', () => {
  it('is the S3 event queue mode reads back: awkward keys, size, ETag unquoted, the modified time as event time', () => {
    const keys = [
      'dir a/file 1.txt',
      'plus+sign/1+1=2.txt',
      'per%cent/100%25 done',
      'uni/été ☃ 日本',
      "q'(x)!*~",
    ];
    for (const key of keys) {
      const object: ReportedObject = {
        bucket: 'in-bucket',
        key,
        size: 42,
        etag: '"0123abcd"',
        lastModified: new Date('2026-01-02T03:04:05.000Z'),
      };
      const body = s3EventBody(object, 'eu-west-1');
      expect(body).not.toContain(' ');
      expect(parseS3EventMessage(body)).toEqual({
        kind: 'objects',
        format: 's3',
        objects: [
          {
            bucket: 'in-bucket',
            key,
            size: 42,
            etag: '0123abcd',
            eventName: 'ObjectCreated:Put',
            eventTime: '2026-01-02T03:04:05.000Z',
          },
        ],
      });
    }
    expect(
      JSON.parse(s3EventBody({ bucket: 'b', key: 'a b+c' }, 'r')).Records[0].s3.object.key,
    ).toBe('a+b%2Bc');
  });
});

describe('messageBatches', () => {
  async function* objects(n: number): AsyncGenerator<SourceEntry> {
    for (let i = 0; i < n; i++) {
      yield { object: { bucket: 'b', key: `${String(i).padStart(5, '0')}k` }, taken: 100 + i + 1 };
    }
  }
  async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
    const out: T[] = [];
    for await (const x of it) out.push(x);
    return out;
  }

  it('groups the objects in order, 10 per batch, each batch ending at its last key', async () => {
    const batches = await collect(messageBatches(objects(23), (o) => o.key));
    expect(batches.map((b) => b.bodies.length)).toEqual([10, 10, 3]);
    expect(batches.map((b) => b.seq)).toEqual([0, 1, 2]);
    expect(batches.map((b) => b.last)).toEqual(['00009k', '00019k', '00022k']);
    expect(batches.map((b) => b.taken)).toEqual([110, 120, 123]);
  });

  it('starts a new batch before the bodies would pass 256 KiB', async () => {
    const big = (o: ReportedObject) => `${o.key}${'x'.repeat(60 * 1024)}`;
    const batches = await collect(messageBatches(objects(9), big));
    expect(batches.map((b) => b.bodies.length)).toEqual([4, 4, 1]);
    for (const b of batches) {
      expect(b.bodies.reduce((n, t) => n + Buffer.byteLength(t), 0)).toBeLessThanOrEqual(
        SQS_BATCH_BYTES,
      );
    }
  });
});

describe('BatchWatermark', () => {
  it('moves only past batches finished without a gap, whatever order they finish in', () => {
    const w = new BatchWatermark({ last: 'start', taken: 101, sent: 100, failed: 1 });
    expect(w.finish({ seq: 1, last: 'b', taken: 121, sent: 10, failed: 0 })).toBe(0);
    expect(w.finish({ seq: 2, last: 'c', taken: 131, sent: 9, failed: 1 })).toBe(0);
    expect(w).toMatchObject({ last: 'start', taken: 101, waiting: 2 });
    expect(w.finish({ seq: 0, last: 'a', taken: 111, sent: 10, failed: 0 })).toBe(3);
    expect(w).toMatchObject({
      last: 'c',
      taken: 131,
      sent: 129,
      failed: 2,
      batches: 3,
      waiting: 0,
    });
  });
});
