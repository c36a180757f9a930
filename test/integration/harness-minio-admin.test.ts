import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  assumeRole,
  bucketReadWritePolicy,
  createUserWithPolicy,
  type Keys,
} from '../support/minio-admin.js';
import { adminClient, createTestBucket } from '../support/s3.js';

describe('MinIO users, policies and STS for least-privilege tests', () => {
  const { s3 } = inject('servers');
  const admin = adminClient(s3);
  let allowed: Awaited<ReturnType<typeof createTestBucket>>;
  let other: Awaited<ReturnType<typeof createTestBucket>>;
  let user: Awaited<ReturnType<typeof createUserWithPolicy>>;

  const clientFor = (keys: Keys) => adminClient(s3, { credentials: keys });

  beforeAll(async () => {
    allowed = await createTestBucket(admin, 'admin-ok');
    other = await createTestBucket(admin, 'admin-no');
    await admin.send(new PutObjectCommand({ Bucket: other.name, Key: 'secret.txt', Body: 'x' }));
    // Any MinIO user may call AssumeRole; the session policy narrows what the user may do.
    user = await createUserWithPolicy(s3, {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['s3:*'], Resource: ['arn:aws:s3:::*'] }],
    });
  });

  afterAll(async () => {
    await user?.remove();
    await allowed?.remove();
    await other?.remove();
    admin.destroy();
  });

  it('mints temporary credentials whose session policy allows one bucket and denies another', async () => {
    const temp = await assumeRole(s3, user, { policy: bucketReadWritePolicy(allowed.name) });
    expect(temp.sessionToken.length).toBeGreaterThan(0);
    expect(temp.expiration.getTime()).toBeGreaterThan(Date.now());
    const client = clientFor(temp);
    try {
      await client.send(
        new PutObjectCommand({ Bucket: allowed.name, Key: 'a.txt', Body: 'hello' }),
      );
      const got = await client.send(new GetObjectCommand({ Bucket: allowed.name, Key: 'a.txt' }));
      expect(await got.Body?.transformToString()).toBe('hello');
      const denied = await client
        .send(new GetObjectCommand({ Bucket: other.name, Key: 'secret.txt' }))
        .then(
          () => undefined,
          (e: Error) => e,
        );
      expect(denied?.name).toBe('AccessDenied');
    } finally {
      client.destroy();
    }
  });
});
