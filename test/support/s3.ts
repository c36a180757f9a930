import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { S3Server } from './servers.js';

/**
 * An S3 client with the test server's root keys, for arranging and checking tests (not the code
 * under test); `overrides` change any setting (attempts, a request handler, wrong keys...).
 */
export function adminClient(s3: S3Server, overrides: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    ...overrides,
  });
}

/** A bucket name no other test uses: S3 rules (lowercase, 3–63 chars). */
export function uniqueBucketName(prefix = 'test'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`.slice(0, 63);
}

/** Creates a uniquely named bucket; `remove()` empties and deletes it (objects, versions, uploads). */
export async function createTestBucket(
  client: S3Client,
  prefix?: string,
): Promise<{ name: string; remove: () => Promise<void> }> {
  const name = uniqueBucketName(prefix);
  await client.send(new CreateBucketCommand({ Bucket: name }));
  return { name, remove: () => removeBucket(client, name) };
}

export async function removeBucket(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const u of uploads.Uploads ?? []) {
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }),
      );
    }
    if (!uploads.IsTruncated) break;
  }
  for (;;) {
    const page = await client.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    const objects = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => ({
      Key: v.Key!,
      VersionId: v.VersionId,
    }));
    if (objects.length > 0) {
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects } }));
    }
    if (!page.IsTruncated) break;
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}
