import { createHash, randomBytes } from 'node:crypto';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SqsServer } from './servers.js';

/** An SQS client for the test server (ElasticMQ accepts any credentials). */
export function sqsClient(sqs: SqsServer): SQSClient {
  return new SQSClient({
    endpoint: sqs.endpoint,
    region: sqs.region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}

/** A queue of one test, with its dead-letter queue. */
export interface TestQueue {
  url: string;
  dlqUrl: string;
  /** Deletes both queues. */
  remove: () => Promise<void>;
}

/**
 * Creates a uniquely named queue with a dead-letter queue (redrive after `maxReceiveCount`
 * receives) and the given default visibility timeout.
 */
export async function createTestQueue(
  client: SQSClient,
  options: { visibilityTimeoutSeconds?: number; maxReceiveCount?: number } = {},
): Promise<TestQueue> {
  const name = `t-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const dlq = await client.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqArn = (
    await client.send(
      new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl!, AttributeNames: ['QueueArn'] }),
    )
  ).Attributes!.QueueArn!;
  const queue = await client.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqArn,
          maxReceiveCount: options.maxReceiveCount ?? 3,
        }),
      },
    }),
  );
  return {
    url: queue.QueueUrl!,
    dlqUrl: dlq.QueueUrl!,
    remove: async () => {
      await client.send(new DeleteQueueCommand({ QueueUrl: queue.QueueUrl! }));
      await client.send(new DeleteQueueCommand({ QueueUrl: dlq.QueueUrl! }));
    },
  };
}

/** Visible and in-flight message counts of a queue. */
export async function queueCounts(
  client: SQSClient,
  url: string,
): Promise<{ visible: number; inFlight: number }> {
  const out = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(out.Attributes?.ApproximateNumberOfMessages),
    inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible),
  };
}

/** Sends bodies 10 per request; returns the message ids in order. */
export async function sendBodies(client: SQSClient, url: string, bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    const out = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body })),
      }),
    );
    if ((out.Failed ?? []).length > 0)
      throw new Error(`send failed: ${JSON.stringify(out.Failed)}`);
  }
}

/** Receives (and leaves in flight) every message visible now; for checking a DLQ's bodies. */
export async function drainBodies(client: SQSClient, url: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 60,
      }),
    );
    if (!out.Messages?.length) return bodies;
    bodies.push(...out.Messages.map((m) => m.Body ?? ''));
  }
}

/**
 * A key as S3 puts it in an event notification: URL-encoded in form style (`+` for a space,
 * `%2B` for a plus); `/` as-is, or as `%2F` with `encodeSlash`.
 */
export function s3EventKey(key: string, options: { encodeSlash?: boolean } = {}): string {
  const encoded = encodeURIComponent(key).replace(/%20/g, '+');
  return options.encodeSlash ? encoded : encoded.replace(/%2F/g, '/');
}

/** The ETag S3 gives an object written in one PUT: the MD5 of its bytes, in hex. */
export function md5Etag(body: Buffer | string): string {
  return createHash('md5').update(body).digest('hex');
}

/**
 * The body S3 sends to SQS for ObjectCreated events of these objects: size and ETag from `body`
 * (as S3 reports an object written in one PUT), unless given.
 */
export function s3EventBody(
  bucket: string,
  objects: Array<{
    key: string;
    body?: Buffer | string;
    size?: number;
    etag?: string;
    encodeSlash?: boolean;
  }>,
): string {
  return JSON.stringify({
    Records: objects.map((o) => ({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventTime: new Date().toISOString(),
      eventName: 'ObjectCreated:Put',
      userIdentity: { principalId: 'AWS:TEST' },
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: { 'x-amz-request-id': 'TEST', 'x-amz-id-2': 'TEST' },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'test',
        bucket: {
          name: bucket,
          ownerIdentity: { principalId: 'TEST' },
          arn: `arn:aws:s3:::${bucket}`,
        },
        object: {
          key: s3EventKey(o.key, { encodeSlash: o.encodeSlash ?? false }),
          size: o.size ?? Buffer.byteLength(o.body ?? ''),
          eTag: o.etag ?? md5Etag(o.body ?? ''),
          sequencer: '0055AED6DCD90281E5',
        },
      },
    })),
  });
}

/** The body EventBridge sends to an SQS target for an S3 "Object Created" event. */
export function eventBridgeBody(bucket: string, key: string, body: Buffer | string): string {
  return JSON.stringify({
    version: '0',
    id: randomBytes(16).toString('hex'),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [`arn:aws:s3:::${bucket}`],
    detail: {
      version: '0',
      bucket: { name: bucket },
      object: {
        key,
        size: Buffer.byteLength(body),
        etag: md5Etag(body),
        sequencer: '0055AED6DCD90281E5',
      },
      'request-id': 'TEST',
      requester: '000000000000',
      'source-ip-address': '127.0.0.1',
      reason: 'PutObject',
    },
  });
}

/** The message S3 sends when a notification configuration is saved. */
export function testEventBody(bucket: string): string {
  return JSON.stringify({
    Service: 'Amazon S3',
    Event: 's3:TestEvent',
    Time: new Date().toISOString(),
    Bucket: bucket,
    RequestId: 'TEST',
    HostId: 'TEST',
  });
}
