import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { QueueAddress } from './queue-url.js';

/** Sockets for one receive, one delete batch and one visibility batch in flight, with room. */
const SQS_MAX_SOCKETS = 8;

/**
 * An SQS client for `queue` that shares the run's S3 client's credential provider (so the task
 * role's refreshes and the `--credentials` choice apply alike) and retry attempts. It sends to
 * the queue URL's own host: for AWS that is the regional endpoint, and for an SQS-compatible
 * server it is the server. The region is the one the URL names, else the S3 client's.
 *
 * The request timeout leaves a 20 s long poll room to answer; keep-alive sockets are reused
 * between polls.
 */
export async function createSqsClient(s3: S3Client, queue: QueueAddress): Promise<SQSClient> {
  const region = queue.region ?? (await s3.config.region());
  const maxAttempts = await s3.config.maxAttempts();
  return new SQSClient({
    region,
    endpoint: queue.origin,
    credentials: s3.config.credentials,
    maxAttempts,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: SQS_MAX_SOCKETS }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: SQS_MAX_SOCKETS }),
      connectionTimeout: 10_000,
      requestTimeout: 40_000,
    }),
  });
}
