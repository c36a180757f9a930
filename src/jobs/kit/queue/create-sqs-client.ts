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
 * the queue URL's own host — for AWS the regional endpoint, for an SQS-compatible server the
 * server — unless `AWS_ENDPOINT_URL_SQS` names another (a VPC endpoint without private DNS; the
 * generic `AWS_ENDPOINT_URL` is left to S3, where it usually points at MinIO). The region is the
 * one the URL names, else the S3 client's.
 *
 * The request timeout leaves a 20 s long poll room to answer; keep-alive sockets are reused
 * between polls.
 *
 * @param maxSockets sockets per agent: requests in flight at once. Default 8, one receive, one
 *   delete batch and one visibility batch in flight with room; a sender with many batches in
 *   flight (enqueue) asks for one per batch.
 */
export async function createSqsClient(
  s3: S3Client,
  queue: QueueAddress,
  env: NodeJS.ProcessEnv = process.env,
  maxSockets = SQS_MAX_SOCKETS,
): Promise<SQSClient> {
  const region = queue.region ?? (await s3.config.region());
  const maxAttempts = await s3.config.maxAttempts();
  return new SQSClient({
    region,
    endpoint: nonEmpty(env.AWS_ENDPOINT_URL_SQS) ?? queue.origin,
    credentials: s3.config.credentials,
    maxAttempts,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
      connectionTimeout: 10_000,
      requestTimeout: 40_000,
    }),
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
