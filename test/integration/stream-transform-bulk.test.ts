import { randomBytes } from 'node:crypto';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type CountingClient,
  countingClient,
  incompleteUploads,
  listKeys,
  putLargeObject,
  putObjects,
  runJob,
  sha256Of,
} from '../fixtures/stream-transform/harness.js';
import { createTestBucket } from '../support/s3.js';

const MiB = 1024 * 1024;
const SMALL = 1000;
const LARGE = 3;

describe('stream-transform at volume: 1,000 small objects and three of 100 MiB', () => {
  const servers = inject('servers');
  let s3: CountingClient;
  let bucket: { name: string; remove: () => Promise<void> };
  /** SHA-256 of every source object, by key relative to `src/`. */
  const sources = new Map<string, string>();

  beforeAll(async () => {
    s3 = countingClient(servers.s3);
    bucket = await createTestBucket(s3.client, 'st-bulk');
    const small = Array.from({ length: SMALL }, (_, i) => ({
      // Some empty objects, the rest up to 8 KiB; folders three deep.
      key: `src/d${i % 7}/e${i % 13}/obj-${i}.bin`,
      body: randomBytes(i % 50 === 0 ? 0 : (i * 7919) % (8 * 1024)),
    }));
    const smallHashes = await putObjects(s3.client, bucket.name, small, 32);
    for (const [key, hash] of smallHashes) sources.set(key.slice('src/'.length), hash);
    const large = await Promise.all(
      Array.from({ length: LARGE }, (_, i) =>
        putLargeObject(s3.client, bucket.name, `src/large/big-${i}.log`, 100 * MiB, i + 1),
      ),
    );
    for (const [i, hash] of large.entries()) sources.set(`large/big-${i}.log`, hash);
  }, 600_000);

  afterAll(async () => {
    await bucket?.remove();
    s3?.client.destroy();
  });

  it('gzips into one prefix, gunzips into a third, and every object comes back byte-identical', async () => {
    const gz = await runJob(
      s3.client,
      {
        input: `s3://${bucket.name}/src/`,
        output: `s3://${bucket.name}/gz/`,
        transform: ['gzip'],
        gzipLevel: 1,
        concurrency: 16,
      },
      { transfer: { maxBufferedBytes: 96 * MiB } },
    );
    expect(gz.result.objects).toMatchObject({ done: SMALL + LARGE, skipped: 0, failed: 0 });
    const gzKeys = await listKeys(s3.client, bucket.name, 'gz/');
    expect(gzKeys.sort()).toEqual([...sources.keys()].map((k) => `gz/${k}.gz`).sort());
    const head = await s3.client.send(
      new HeadObjectCommand({ Bucket: bucket.name, Key: 'gz/large/big-0.log.gz' }),
    );
    expect(head.ContentType).toBe('application/gzip');
    expect(head.ContentEncoding).toBeUndefined();
    // Compressed text is smaller than its 100 MiB source.
    expect(head.ContentLength).toBeLessThan(60 * MiB);

    const back = await runJob(
      s3.client,
      {
        input: `s3://${bucket.name}/gz/`,
        output: `s3://${bucket.name}/back/`,
        transform: ['gunzip'],
        concurrency: 16,
      },
      { transfer: { maxBufferedBytes: 96 * MiB } },
    );
    expect(back.result.objects).toMatchObject({ done: SMALL + LARGE, skipped: 0, failed: 0 });
    expect(back.result.bytesOut).toBe(gz.result.bytesIn);

    // The byte budget held: the finished line reports the most bytes ever buffered at once.
    for (const { run } of [gz, back]) {
      const finished = run.logs.find((l) => l.msg === 'stream-transform finished');
      expect(finished?.budgetHighWaterMark).toBeLessThanOrEqual(96 * MiB);
    }

    const limit = pLimit(16);
    const mismatches: string[] = [];
    await Promise.all(
      [...sources].map(([rel, hash]) =>
        limit(async () => {
          if ((await sha256Of(s3.client, bucket.name, `back/${rel}`)) !== hash)
            mismatches.push(rel);
        }),
      ),
    );
    expect(mismatches).toEqual([]);
    expect(await incompleteUploads(s3.client, bucket.name)).toBe(0);
  }, 900_000);
});
