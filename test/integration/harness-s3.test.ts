import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { describe, expect, inject, it } from 'vitest';
import { randomSource } from '../support/random-source.js';
import { useTestBucket } from '../support/test-bucket.js';

const MiB = 1024 * 1024;

describe('the S3 test server', () => {
  const servers = inject('servers');
  const bucket = useTestBucket(servers.s3, 'harness');

  it('takes a 40 MiB multipart upload of 5 MiB parts and returns the same bytes', async () => {
    const source = randomSource(40 * MiB);
    const parts: number[] = [];
    const upload = new Upload({
      client: bucket.admin,
      params: { Bucket: bucket.name, Key: 'random.bin', Body: source.stream },
      partSize: 5 * MiB,
      queueSize: 4,
    });
    upload.on('httpUploadProgress', (p) => {
      if (p.part !== undefined) parts.push(p.part);
    });
    await upload.done();
    const sentDigest = source.digest();

    expect(new Set(parts).size).toBeGreaterThanOrEqual(8);
    const head = await bucket.admin.send(
      new HeadObjectCommand({ Bucket: bucket.name, Key: 'random.bin' }),
    );
    expect(head.ContentLength).toBe(40 * MiB);
    // A multipart ETag ends in -<parts>.
    expect(head.ETag).toMatch(/-8"?$/);

    const got = await bucket.admin.send(
      new GetObjectCommand({ Bucket: bucket.name, Key: 'random.bin' }),
    );
    const hash = createHash('sha256');
    for await (const chunk of got.Body as Readable) hash.update(chunk as Buffer);
    expect(hash.digest('hex')).toBe(sentDigest);
  });
});
