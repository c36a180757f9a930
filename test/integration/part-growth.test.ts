import { Readable } from 'node:stream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, inject, it } from 'vitest';
import { Transfer } from '../../src/transfer/transfer.js';
import { sha256, sha256Of } from '../fixtures/stream-transform/harness.js';
import { useTestBucket } from '../support/test-bucket.js';

const MiB = 1024 * 1024;

describe('part sizes grow through an upload of unknown length', () => {
  const servers = inject('servers');
  const bucket = useTestBucket(servers.s3, 'growth');

  it('crosses two growth steps on MinIO: parts of 5, 5, 10, 10, then up to 20 MiB', async () => {
    const body = Buffer.alloc(48 * MiB);
    for (let i = 0; i < body.length; i += 4096) body.writeUInt32LE(i, i);
    const transfer = new Transfer(bucket.admin, { directRequests: false });
    // A stream of unknown length, in odd-sized chunks.
    const chunks = [];
    for (let i = 0; i < body.length; i += 777_777) chunks.push(body.subarray(i, i + 777_777));
    const result = await transfer.upload({
      bucket: bucket.name,
      key: 'grown.bin',
      body: Readable.from(chunks),
      partSize: 5 * MiB,
      queueSize: 2,
      partsPerDoubling: 2,
    });
    expect(result).toMatchObject({ bytes: body.length, parts: 5 });
    const sizes: number[] = [];
    for (let part = 1; part <= 5; part++) {
      const head = await bucket.admin.send(
        new HeadObjectCommand({ Bucket: bucket.name, Key: 'grown.bin', PartNumber: part }),
      );
      sizes.push(head.ContentLength ?? 0);
    }
    expect(sizes).toEqual([5 * MiB, 5 * MiB, 10 * MiB, 10 * MiB, 18 * MiB]);
    expect(await sha256Of(bucket.admin, bucket.name, 'grown.bin')).toBe(sha256(body));
  });
});
