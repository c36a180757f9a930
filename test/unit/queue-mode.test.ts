import { afterEach, describe, expect, it, vi } from 'vitest';
import { policyCommand } from '../../src/cli/commands/policy.js';
import { ConfigError, ExitCode } from '../../src/errors.js';
import { MessageBatcher } from '../../src/jobs/kit/queue/message-batcher.js';
import { parseQueueUrl, type QueueAddress } from '../../src/jobs/kit/queue/queue-url.js';
import { ENQUEUE_SENDER } from '../../src/jobs/kit/queue/s3-event-body.js';
import {
  decodeS3EventKey,
  parseS3EventMessage,
} from '../../src/jobs/kit/queue/s3-event-message.js';
import { streamTransformConfigSchema } from '../../src/jobs/stream-transform/config.js';
import { ObjectTransformJob } from '../../src/jobs/stream-transform/object-transform-job.js';
import type { PolicyDocument } from '../../src/policy/policy-document.js';
import { eventBridgeBody, s3EventBody, s3EventKey, testEventBody } from '../support/sqs.js';

const QUEUE = 'https://sqs.eu-west-1.amazonaws.com/123456789012/uploads';
const base = { input: 's3://in-bucket/raw/', output: 's3://out-bucket/gz/', queue: QUEUE };

afterEach(() => vi.restoreAllMocks());

describe('S3 event notification keys', () => {
  it('decode form-style: + is a space, %2B a plus, / as-is or %2F, UTF-8 escapes', () => {
    expect(decodeS3EventKey('dir+a/file+1.txt')).toBe('dir a/file 1.txt');
    expect(decodeS3EventKey('dir+a%2Ffile+1.txt')).toBe('dir a/file 1.txt');
    expect(decodeS3EventKey('plus%2Bsign/1%2B1%3D2.txt')).toBe('plus+sign/1+1=2.txt');
    expect(decodeS3EventKey('per%25cent/100%2525')).toBe('per%cent/100%25');
    expect(decodeS3EventKey('uni/%C3%A9t%C3%A9+%E2%98%83')).toBe('uni/été ☃');
    expect(decodeS3EventKey('bad%E2%98')).toBeUndefined();
  });

  it('round-trip every tricky key the way S3 encodes it', () => {
    for (const key of ['a b/c+d', '100% done', 'été/☃ 日本', 'x/%2F/y', 'sp  ace', "~!*()'"]) {
      expect(decodeS3EventKey(s3EventKey(key))).toBe(key);
      expect(decodeS3EventKey(s3EventKey(key, { encodeSlash: true }))).toBe(key);
    }
  });
});

describe('parseS3EventMessage', () => {
  it('reads every record of an S3 notification, keys decoded, with size and ETag', () => {
    const body = s3EventBody('b', [
      { key: 'in/a b.txt', size: 5, etag: 'e1' },
      { key: 'in/c+d.txt', size: 7, etag: 'e2', encodeSlash: true },
    ]);
    expect(parseS3EventMessage(body)).toEqual({
      kind: 'objects',
      format: 's3',
      objects: [
        {
          bucket: 'b',
          key: 'in/a b.txt',
          size: 5,
          etag: 'e1',
          eventName: 'ObjectCreated:Put',
          eventTime: expect.any(String),
        },
        {
          bucket: 'b',
          key: 'in/c+d.txt',
          size: 7,
          etag: 'e2',
          eventName: 'ObjectCreated:Put',
          eventTime: expect.any(String),
        },
      ],
    });
  });

  it("takes a record's versionId only from a message s3worker enqueue wrote, never from S3's own notifications", () => {
    const withVersion = (configurationId: string) => {
      const body = JSON.parse(s3EventBody('b', [{ key: 'in/a.txt', size: 5, etag: 'e1' }]));
      body.Records[0].s3.configurationId = configurationId;
      body.Records[0].s3.object.versionId = 'v1';
      return parseS3EventMessage(JSON.stringify(body));
    };
    expect(withVersion(ENQUEUE_SENDER)).toMatchObject({ objects: [{ versionId: 'v1' }] });
    const fromS3 = withVersion('my-bucket-notification');
    expect(fromS3.kind).toBe('objects');
    if (fromS3.kind === 'objects') expect(fromS3.objects[0]?.versionId).toBeUndefined();
  });

  it('reads an EventBridge Object Created event without decoding its key', () => {
    const parsed = parseS3EventMessage(eventBridgeBody('b', 'in/a+b%20c.txt', 'abc'));
    expect(parsed).toMatchObject({
      kind: 'objects',
      format: 'eventbridge',
      objects: [{ bucket: 'b', key: 'in/a+b%20c.txt', size: 3 }],
    });
  });

  it('unwraps an S3 notification delivered through SNS', () => {
    const body = JSON.stringify({
      Type: 'Notification',
      MessageId: 'm',
      TopicArn: 'arn:aws:sns:us-east-1:123456789012:t',
      Message: s3EventBody('b', [{ key: 'in/x y', size: 1 }]),
    });
    expect(parseS3EventMessage(body)).toMatchObject({
      kind: 'objects',
      objects: [{ key: 'in/x y' }],
    });
  });

  it('recognises s3:TestEvent', () => {
    expect(parseS3EventMessage(testEventBody('b'))).toEqual({ kind: 'test-event' });
  });

  it('calls everything else poison, saying why', () => {
    const removed = JSON.parse(s3EventBody('b', [{ key: 'k', size: 1 }]));
    removed.Records[0].eventName = 'ObjectRemoved:Delete';
    const ebDeleted = JSON.parse(eventBridgeBody('b', 'k', 'x'));
    ebDeleted['detail-type'] = 'Object Deleted';
    const cases: Array<[string, RegExp]> = [
      ['not json', /not JSON/],
      ['[1,2]', /not a JSON object/],
      ['{"hello":"world"}', /neither/],
      ['{"Records":[]}', /no records/],
      [JSON.stringify(removed), /ObjectRemoved:Delete, not ObjectCreated/],
      [JSON.stringify(ebDeleted), /Object Deleted/],
      [
        '{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"}}}]}',
        /no bucket or key/,
      ],
      [
        '{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%E2"}}}]}',
        /does not URL-decode/,
      ],
    ];
    for (const [body, reason] of cases) {
      const parsed = parseS3EventMessage(body);
      expect(parsed.kind, body).toBe('poison');
      expect(parsed.kind === 'poison' ? parsed.reason : '', body).toMatch(reason);
    }
  });
});

describe('parseQueueUrl', () => {
  it('takes region, account, name and partition from an AWS queue URL', () => {
    expect(parseQueueUrl(QUEUE)).toEqual({
      url: QUEUE,
      origin: 'https://sqs.eu-west-1.amazonaws.com',
      account: '123456789012',
      name: 'uploads',
      region: 'eu-west-1',
      partition: 'aws',
      arn: 'arn:aws:sqs:eu-west-1:123456789012:uploads',
    });
    const legacy = parseQueueUrl('https://us-west-2.queue.amazonaws.com/123456789012/q.fifo');
    expect((legacy as QueueAddress).arn).toBe('arn:aws:sqs:us-west-2:123456789012:q.fifo');
    const china = parseQueueUrl('https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q');
    expect((china as QueueAddress).arn).toBe('arn:aws-cn:sqs:cn-north-1:123456789012:q');
    const gov = parseQueueUrl('https://sqs.us-gov-west-1.amazonaws.com/123456789012/q');
    expect((gov as QueueAddress).partition).toBe('aws-us-gov');
  });

  it('accepts another SQS server, with no region in the ARN', () => {
    const local = parseQueueUrl('http://127.0.0.1:29324/000000000000/work') as QueueAddress;
    expect(local.origin).toBe('http://127.0.0.1:29324');
    expect(local.region).toBeUndefined();
    expect(local.arn).toBe('arn:aws:sqs:*:000000000000:work');
  });

  it('refuses what is not a queue URL', () => {
    expect(parseQueueUrl('uploads')).toMatch(/not a URL/);
    expect(parseQueueUrl('s3://bucket/x')).toMatch(/http\(s\)/);
    expect(parseQueueUrl('https://sqs.us-east-1.amazonaws.com/uploads')).toMatch(
      /\/<account>\/<queue>/,
    );
    expect(parseQueueUrl('https://sqs.us-east-1.amazonaws.com/1/bad name')).toMatch(/queue name/);
  });
});

describe('stream-transform queue options', () => {
  it('parse durations and reject a bad URL, an odd visibility timeout and stray queue options', () => {
    const config = streamTransformConfigSchema.parse({
      ...base,
      queueVisibilityTimeout: '2m',
      exitWhenIdle: '30s',
    });
    expect(config).toMatchObject({ queueVisibilityTimeout: 120_000, exitWhenIdle: 30_000 });
    const bad = streamTransformConfigSchema.safeParse({
      ...base,
      queue: 'sqs://nope',
      queueVisibilityTimeout: '1500ms',
    });
    expect(bad.success).toBe(false);
    const paths = bad.error?.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['queue', 'queueVisibilityTimeout']));
  });

  it('refuses keys, shard and dry-run beside queue, and queue options without it', () => {
    const conflicting = streamTransformConfigSchema.parse({
      ...base,
      keys: 'keys.txt',
      shard: '0/2',
      dryRun: true,
    });
    const err = (() => {
      try {
        new ObjectTransformJob(conflicting);
      } catch (e) {
        return e as ConfigError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.issues.map((i) => i.path).sort()).toEqual(['dryRun', 'keys', 'shard']);
    const stray = streamTransformConfigSchema.parse({
      input: base.input,
      output: base.output,
      exitWhenIdle: '10s',
    });
    expect(() => new ObjectTransformJob(stray)).toThrow(/exitWhenIdle: only applies with queue/);
  });

  it('declares the SQS actions on the queue ARN, no input listing, and kms:Decrypt for a KMS queue', () => {
    const job = new ObjectTransformJob(
      streamTransformConfigSchema.parse({ ...base, queueKmsKey: 'alias/queues' }),
    );
    const perms = job.permissions();
    const sqs = perms.filter((p) => p.action.startsWith('sqs:'));
    expect(sqs.map((p) => p.action).sort()).toEqual([
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:ReceiveMessage',
    ]);
    expect(new Set(sqs.map((p) => p.resource))).toEqual(
      new Set(['arn:aws:sqs:eu-west-1:123456789012:uploads']),
    );
    expect(perms.find((p) => p.action === 's3:ListBucket' && p.bucket === 'in-bucket')).toBe(
      undefined,
    );
    expect(perms.find((p) => p.action === 'kms:Decrypt')).toMatchObject({
      condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/queues'] } },
    });
  });

  it('s3worker policy --queue prints one SQS statement on the queue ARN', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((c) => {
      out.push(String(c));
      return true;
    });
    const code = await policyCommand(
      [
        'stream-transform',
        '--input',
        's3://in-b/raw/',
        '--output',
        's3://out-b/gz/',
        '--queue',
        QUEUE,
      ],
      {},
      {},
    );
    vi.restoreAllMocks();
    expect(code).toBe(ExitCode.Success);
    const doc = JSON.parse(out.join('')) as PolicyDocument;
    expect(
      doc.Statement.filter((s) => [s.Action].flat().some((a) => a.startsWith('sqs:'))),
    ).toEqual([
      {
        Sid: 'Sqs1',
        Effect: 'Allow',
        Action: [
          'sqs:ChangeMessageVisibility',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:ReceiveMessage',
        ],
        Resource: ['arn:aws:sqs:eu-west-1:123456789012:uploads'],
      },
    ]);
  });
});

describe('MessageBatcher', () => {
  it('sends up to 10 entries per request, each entry getting its own result', async () => {
    const batches: number[][] = [];
    const batcher = new MessageBatcher<number>(async (entries) => {
      batches.push(entries);
      return entries.map((n) =>
        n === 7 ? { ok: false, code: 'Bad', message: 'seven' } : { ok: true },
      );
    }, 5);
    const results = await Promise.all(Array.from({ length: 23 }, (_, i) => batcher.add(i)));
    expect(batches.map((b) => b.length)).toEqual([10, 10, 3]);
    expect(results[7]).toEqual({ ok: false, code: 'Bad', message: 'seven' });
    expect(results.filter((r) => r.ok)).toHaveLength(22);
  });

  it('fails every entry of a batch whose request threw, and flush waits for it', async () => {
    const batcher = new MessageBatcher<number>(async () => {
      throw Object.assign(new Error('down\nmore'), { name: 'TimeoutError' });
    }, 1000);
    const pending = batcher.add(1);
    await batcher.flush();
    expect(await pending).toEqual({ ok: false, code: 'TimeoutError', message: 'down' });
  });
});
