import { Readable } from 'node:stream';
import { PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import {
  addRefreshOnExpiredToken,
  isExpiredTokenError,
} from '../../src/credentials/refresh-on-expired-token.js';

const EXPIRED_XML =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>';

/** A request handler that answers ExpiredToken to the first request and 200 after; records each request's key id. */
function fakeS3() {
  const keyIds: string[] = [];
  return {
    keyIds,
    handler: {
      handle: async (request: { headers: Record<string, string> }) => {
        keyIds.push(/Credential=([^/]+)\//.exec(request.headers.authorization ?? '')?.[1] ?? '');
        const expired = keyIds.length === 1;
        return {
          response: {
            statusCode: expired ? 400 : 200,
            headers: {
              'x-amz-request-id': 'r1',
              ...(expired ? { 'content-type': 'application/xml' } : { etag: '"e"' }),
            },
            body: Readable.from([Buffer.from(expired ? EXPIRED_XML : '')]),
          },
        };
      },
      updateHttpClientConfig: () => {},
      httpHandlerConfigs: () => ({}),
    },
  };
}

/** A client on the fake handler (one attempt, so only the middleware can repeat a request). */
function fakeClient(s3: ReturnType<typeof fakeS3>, credentials: S3ClientConfig['credentials']) {
  return new S3Client({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    credentials,
    requestHandler: s3.handler as never,
  });
}

describe('refresh on ExpiredToken', () => {
  it('forces a credentials refresh and re-signs the failed request with the fresh keys', async () => {
    let calls = 0;
    const s3 = fakeS3();
    // Far-future expiry: only the forced refresh can explain a second fetch.
    const client = fakeClient(s3, async () => {
      calls++;
      return {
        accessKeyId: `KEY${calls}`,
        secretAccessKey: 'secret',
        sessionToken: 'token',
        expiration: new Date(Date.now() + 3_600_000),
      };
    });
    addRefreshOnExpiredToken(client);
    const out = await client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }));
    expect(out.$metadata.httpStatusCode).toBe(200);
    expect(s3.keyIds).toEqual(['KEY1', 'KEY2']);
    expect(calls).toBe(2);
  });

  it('without the middleware the same request fails with ExpiredToken', async () => {
    const s3 = fakeS3();
    const client = fakeClient(s3, {
      accessKeyId: 'KEY',
      secretAccessKey: 'secret',
      sessionToken: 't',
    });
    const err = await client
      .send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }))
      .catch((e: unknown) => e);
    expect((err as Error).name).toBe('ExpiredToken');
  });

  it('does not repeat a request whose stream body the first try consumed', async () => {
    const s3 = fakeS3();
    const client = fakeClient(s3, {
      accessKeyId: 'KEY',
      secretAccessKey: 'secret',
      sessionToken: 't',
    });
    addRefreshOnExpiredToken(client);
    const err = await client
      .send(
        new PutObjectCommand({
          Bucket: 'b',
          Key: 'k',
          Body: Readable.from([Buffer.from('x')]),
          ContentLength: 1,
        }),
      )
      .catch((e: unknown) => e);
    expect((err as Error).name).toBe('ExpiredToken');
    expect(s3.keyIds).toHaveLength(1);
  });

  it('treats InvalidAccessKeyId as expiry only for temporary credentials', () => {
    const err = { name: 'InvalidAccessKeyId' };
    expect(
      isExpiredTokenError(err, { accessKeyId: 'a', secretAccessKey: 's', sessionToken: 't' }),
    ).toBe(true);
    expect(isExpiredTokenError(err, { accessKeyId: 'a', secretAccessKey: 's' })).toBe(false);
    expect(isExpiredTokenError({ name: 'AccessDenied' })).toBe(false);
  });
});
