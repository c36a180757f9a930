import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { adminClient, createTestBucket } from './s3.js';
import type { S3Server } from './servers.js';

/** What `useTestBucket` gives the tests of a describe block once its `beforeAll` ran. */
export interface TestBucket {
  /** A root-key client for arranging and checking (not the code under test). */
  readonly admin: S3Client;
  readonly name: string;
}

/**
 * In a describe block: a fresh bucket named after `prefix` and an admin client, made before its
 * tests and removed (emptied, uploads aborted) after them.
 */
export function useTestBucket(s3: S3Server, prefix: string): TestBucket {
  let admin: S3Client | undefined;
  let bucket: { name: string; remove: () => Promise<void> } | undefined;
  beforeAll(async () => {
    admin = adminClient(s3);
    bucket = await createTestBucket(admin, prefix);
  });
  afterAll(async () => {
    await bucket?.remove();
    admin?.destroy();
  });
  return {
    get admin() {
      if (!admin) throw new Error('useTestBucket: used before its beforeAll ran');
      return admin;
    },
    get name() {
      if (!bucket) throw new Error('useTestBucket: used before its beforeAll ran');
      return bucket.name;
    },
  };
}
