import { Readable } from 'node:stream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, inject, it } from 'vitest';
import { Transfer } from '../../src/transfer/transfer.js';
import { RecordHeaders } from '../support/fault-handlers.js';
import { adminClient } from '../support/s3.js';
import { useTestBucket } from '../support/test-bucket.js';

const MiB = 1024 * 1024;

describe('--checksum-calculation WHEN_REQUIRED', () => {
  const servers = inject('servers');
  const bucket = useTestBucket(servers.s3, 'cksum');

  it.each([
    ['direct', true],
    ['SDK', false],
  ])('sends no checksum header on any upload request (%s path)', async (path, directRequests) => {
    const recorder = new RecordHeaders();
    const client = adminClient(servers.s3, {
      requestHandler: recorder,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    try {
      const transfer = new Transfer(client, { directRequests, partSize: 5 * MiB });
      await transfer.upload({
        bucket: bucket.name,
        key: `${path}/small.bin`,
        body: Readable.from([Buffer.alloc(1000, 1)]),
      });
      await transfer.upload({
        bucket: bucket.name,
        key: `${path}/large.bin`,
        body: Readable.from([Buffer.alloc(11 * MiB, 2)]),
      });
      await transfer.putObject({
        bucket: bucket.name,
        key: `${path}/put.bin`,
        body: Buffer.alloc(10),
      });
      const writes = recorder.requests.filter((r) => r.method === 'PUT' || r.method === 'POST');
      expect(writes.length).toBeGreaterThanOrEqual(6);
      const withChecksum = writes.filter((r) =>
        r.headers.some(
          (h) => h.startsWith('x-amz-checksum-') || h === 'x-amz-sdk-checksum-algorithm',
        ),
      );
      expect(withChecksum).toEqual([]);
      const head = await bucket.admin.send(
        new HeadObjectCommand({
          Bucket: bucket.name,
          Key: `${path}/small.bin`,
          ChecksumMode: 'ENABLED',
        }),
      );
      expect(head.ChecksumCRC32).toBeUndefined();
    } finally {
      client.destroy();
    }
  });
});
