import { ListObjectsV2Command, type S3ClientConfig } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { explainS3Error } from '../../src/s3/explain-error.js';
import { adminClient, createTestBucket } from '../support/s3.js';

// A wrong region is not among these: this MinIO has no region of its own and accepts any
// (test/unit/explain-error.test.ts covers S3's PermanentRedirect and AuthorizationHeaderMalformed).
describe('explainS3Error on what MinIO really answers', () => {
  const { s3 } = inject('servers');
  const admin = adminClient(s3);
  let bucket: { name: string; remove: () => Promise<void> };

  beforeAll(async () => {
    bucket = await createTestBucket(admin, 'explain');
  });
  afterAll(async () => {
    await bucket?.remove();
    admin.destroy();
  });

  /** Lists the bucket with a client built from the admin's settings plus `overrides`; returns the explained error. */
  async function explainList(overrides: Partial<S3ClientConfig>, bucketName = bucket.name) {
    const client = adminClient(s3, { maxAttempts: 1, ...overrides });
    try {
      const err = await client.send(new ListObjectsV2Command({ Bucket: bucketName })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeDefined();
      return explainS3Error(err, { action: 'ListObjectsV2', bucket: bucketName });
    } finally {
      client.destroy();
    }
  }

  it('a missing bucket is NO_SUCH_BUCKET, exit 13', async () => {
    const e = await explainList({}, `${bucket.name}-missing`);
    expect([e.code, e.exitCode]).toEqual(['NO_SUCH_BUCKET', ExitCode.NoSuchBucket]);
    expect(e.message).toContain(`${bucket.name}-missing`);
  });

  it('a clock an hour off is CLOCK_SKEW, exit 15', async () => {
    const e = await explainList({ systemClockOffset: 3_600_000 });
    expect([e.code, e.exitCode]).toEqual(['CLOCK_SKEW', ExitCode.ClockSkew]);
  });

  it('an unknown access key is CREDENTIALS_REJECTED, exit 11', async () => {
    const e = await explainList({
      credentials: { accessKeyId: 'nobody-knows-me', secretAccessKey: 'whatever-secret' },
    });
    expect([e.code, e.exitCode]).toEqual(['CREDENTIALS_REJECTED', ExitCode.CredentialsRejected]);
  });

  it('a wrong secret is SIGNATURE_MISMATCH, exit 11, and the cause keeps no echoed key id', async () => {
    const e = await explainList({
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: `${s3.secretAccessKey}-wrong` },
    });
    expect([e.code, e.exitCode]).toEqual(['SIGNATURE_MISMATCH', ExitCode.CredentialsRejected]);
    expect(
      JSON.stringify({ ...(e.cause as object), message: (e.cause as Error).message }),
    ).not.toContain(s3.accessKeyId);
  });

  it('a closed port is ENDPOINT_UNREACHABLE, exit 16', async () => {
    const e = await explainList({ endpoint: 'http://127.0.0.1:9' });
    expect([e.code, e.exitCode]).toEqual(['ENDPOINT_UNREACHABLE', ExitCode.EndpointUnreachable]);
    expect(e.message).toContain('ECONNREFUSED');
  });
});
