import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, inject, it } from 'vitest';
import { ByteBudget } from '../../src/transfer/byte-budget.js';
import { Transfer } from '../../src/transfer/transfer.js';
import {
  incompleteUploads,
  runJob,
  sha256,
  sha256Of,
} from '../fixtures/stream-transform/harness.js';
import { TruncateGetBodies } from '../support/fault-handlers.js';
import { adminClient } from '../support/s3.js';
import { useTestBucket } from '../support/test-bucket.js';

const MiB = 1024 * 1024;

describe('received bytes are checked against the listed size on every GET path', () => {
  const servers = inject('servers');
  const bucket = useTestBucket(servers.s3, 'bytes');

  /** Objects written without a checksum: only their length can tell a short body. */
  async function putPlain(key: string, size: number): Promise<void> {
    const plain = adminClient(servers.s3, { requestChecksumCalculation: 'WHEN_REQUIRED' });
    try {
      await plain.send(
        new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: Buffer.alloc(size, 7) }),
      );
    } finally {
      plain.destroy();
    }
  }

  it('a single GET whose body ends early is resumed from the last byte, never ends short', async () => {
    await putPlain('single/a.bin', 300_000);
    const cutting = new TruncateGetBodies(1);
    const client = adminClient(servers.s3, { requestHandler: cutting });
    try {
      const transfer = new Transfer(client, {
        budget: new ByteBudget(64 * MiB),
        directRequests: false,
      });
      const stream = transfer.download({ bucket: bucket.name, key: 'single/a.bin', size: 300_000 });
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      expect(cutting.truncated).toBe(1);
      expect(Buffer.concat(chunks).equals(Buffer.alloc(300_000, 7))).toBe(true);
    } finally {
      client.destroy();
    }
  });

  it('a single GET whose object is not the listed size fails', async () => {
    await putPlain('single/b.bin', 1000);
    const client = adminClient(servers.s3);
    try {
      const transfer = new Transfer(client, { directRequests: false });
      const stream = transfer.download({ bucket: bucket.name, key: 'single/b.bin', size: 1500 });
      const read = (async () => {
        for await (const _ of stream) {
        }
      })();
      await expect(read).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
    } finally {
      client.destroy();
    }
  });

  it('a copy of a multipart-sized object whose body ends early is written whole', async () => {
    await putPlain('copy-in/big.bin', 12 * MiB);
    const client = adminClient(servers.s3, { requestHandler: new TruncateGetBodies(1) });
    try {
      const { result } = await runJob(
        client,
        {
          input: `s3://${bucket.name}/copy-in/`,
          output: `s3://${bucket.name}/copy-out/`,
        },
        { transfer: { partSize: 5 * MiB } },
      );
      expect(result.objects).toMatchObject({ done: 1, failed: 0 });
      expect(await sha256Of(bucket.admin, bucket.name, 'copy-out/big.bin')).toBe(
        sha256(Buffer.alloc(12 * MiB, 7)),
      );
      expect(await incompleteUploads(bucket.admin, bucket.name)).toBe(0);
    } finally {
      client.destroy();
    }
  });
});
