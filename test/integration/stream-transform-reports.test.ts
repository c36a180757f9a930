import { createHash } from 'node:crypto';
import { PutBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode, type S3WorkerError } from '../../src/errors.js';
import {
  type InventoryTestRow,
  inventoryRows,
  writeInventory,
} from '../fixtures/object-reports/write-report.js';
import {
  type CountingClient,
  countingClient,
  getBytes,
  listKeys,
  putObjects,
  runJob,
  WRITE_COMMANDS,
} from '../fixtures/stream-transform/harness.js';
import { createTestBucket } from '../support/s3.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Keys as awkward as real buckets have: spaces, `+`, `%`, unicode, in folders. */
const awkwardKey = (i: number) => `inv/d${i % 7} spaced/o+${i}%20 ünï✓ 100%.txt`;

// 10,000 objects go through each report: room for a loaded 2-core machine.
describe('stream-transform from inventory reports and manifests', { timeout: 600_000 }, () => {
  const servers = inject('servers');
  let s3: CountingClient;
  let src: { name: string; remove: () => Promise<void> };
  let out: { name: string; remove: () => Promise<void> };
  let reports: { name: string; remove: () => Promise<void> };

  beforeAll(async () => {
    s3 = countingClient(servers.s3);
    src = await createTestBucket(s3.client, 'rep-src');
    out = await createTestBucket(s3.client, 'rep-out');
    reports = await createTestBucket(s3.client, 'rep-inv');
  });

  afterAll(async () => {
    await src?.remove();
    await out?.remove();
    await reports?.remove();
    s3?.client.destroy();
  });

  /** Every output under `prefix` by its source key (the relative key is the same). */
  async function outputsUnder(prefix: string): Promise<string[]> {
    return (await listKeys(s3.client, out.name, prefix)).filter((k) => !k.includes('_s3worker/'));
  }

  describe('10,000 objects', () => {
    let hashes: Map<string, string>;
    let rows: InventoryTestRow[];

    beforeAll(async () => {
      const objects = Array.from({ length: 10_000 }, (_, i) => ({
        key: awkwardKey(i),
        body: `object ${i}\n`.repeat(1 + (i % 5)),
      }));
      hashes = await putObjects(s3.client, src.name, objects, 64);
      rows = await inventoryRows(s3.client, src.name, 'inv/');
      expect(rows).toHaveLength(10_000);
    }, 600_000);

    for (const format of ['CSV', 'Parquet'] as const) {
      it(`copies every object of a ${format} report once, byte-identical, without a listing or a HEAD`, async () => {
        const inventory = await writeInventory(s3.client, {
          format,
          bucket: reports.name,
          prefix: 'reports/',
          sourceBucket: src.name,
          // A row outside the input prefix: the prefix scopes which rows are taken.
          rows: [...rows, { ...rows[0]!, key: 'elsewhere/not-input.txt' }],
          files: 3,
        });
        const prefix = `${format.toLowerCase()}/`;
        s3.reset();
        const { result, run } = await runJob(
          s3.client,
          {
            input: `s3://${src.name}/inv/`,
            output: `s3://${out.name}/${prefix}`,
            inventory,
            concurrency: 32,
          },
          // The CSV run reads through direct requests as production does (faster), the Parquet
          // run through the SDK: the report's ETag reaches both as If-Match.
          { transfer: { directRequests: format === 'CSV' } },
        );
        expect(result.objects).toMatchObject({ done: 10_000, failed: 0, skipped: 1 });
        expect(result.skippedBy).toEqual({ 'outside-input': 1 });
        // The report stands in for the listing and the HEADs: the one ListObjectsV2 is the
        // one-key look at the output prefix (empty: no resume check per object).
        expect(s3.sent('ListObjectsV2Command')).toBe(1);
        expect(s3.sent('HeadObjectCommand')).toBe(0);
        expect(
          run.logs.some((l) => l.msg === 'inventory report verified' && l.dataFiles === 3),
        ).toBe(true);
        const written = await outputsUnder(prefix);
        expect(written.sort()).toEqual(rows.map((r) => `${prefix}${r.key.slice(4)}`).sort());
        for (const i of [0, 1, 4, 5_555, 9_999]) {
          const key = awkwardKey(i);
          expect(sha256(await getBytes(s3.client, out.name, `${prefix}${key.slice(4)}`))).toBe(
            hashes.get(key),
          );
        }
      });
    }
  });

  describe('small reports', () => {
    let rows: InventoryTestRow[];

    beforeAll(async () => {
      const objects = Array.from({ length: 1_000 }, (_, i) => ({
        key: `few/${awkwardKey(i).slice(4)}`,
        body: `few ${i}\n`,
      }));
      await putObjects(s3.client, src.name, objects, 64);
      rows = await inventoryRows(s3.client, src.name, 'few/');
      expect(rows).toHaveLength(1_000);
    }, 600_000);

    it('refuses a report whose data file does not match its MD5, before writing anything', async () => {
      const some = rows.slice(0, 30);
      const inventory = await writeInventory(s3.client, {
        format: 'CSV',
        bucket: reports.name,
        prefix: 'bad-md5/',
        sourceBucket: src.name,
        rows: some,
        files: 3,
        wrongMd5Of: 2,
      });
      s3.reset();
      const err = (await runJob(s3.client, {
        input: `s3://${src.name}/few/`,
        output: `s3://${out.name}/bad-md5/`,
        inventory,
      }).then(
        () => undefined,
        (e: unknown) => e,
      )) as S3WorkerError;
      expect(err?.code).toBe('REPORT_CHECKSUM_MISMATCH');
      expect(err.exitCode).toBe(ExitCode.BadInput);
      expect(err.message).toMatch(/does not match its manifest.*nothing was processed/);
      expect(err.hint).toMatch(/next report/);
      expect(s3.sent(...WRITE_COMMANDS)).toBe(0);
      expect(await outputsUnder('bad-md5/')).toEqual([]);
    });

    it('skips and counts an object overwritten since the report and an archived one, never fetching it', async () => {
      const keys = Array.from({ length: 6 }, (_, i) => `changing/obj ${i}+.txt`);
      await putObjects(
        s3.client,
        src.name,
        keys.map((key) => ({ key, body: `first ${key}` })),
      );
      const some = await inventoryRows(s3.client, src.name, 'changing/');
      some[4]!.storageClass = 'GLACIER';
      some[5]!.storageClass = 'DEEP_ARCHIVE';
      const inventory = await writeInventory(s3.client, {
        format: 'Parquet',
        bucket: reports.name,
        prefix: 'changing/',
        sourceBucket: src.name,
        rows: some,
      });
      // Overwritten after the report: the report's ETag no longer matches.
      await s3.client.send(
        new PutObjectCommand({ Bucket: src.name, Key: keys[1], Body: 'second version, longer' }),
      );
      s3.reset();
      const { result, run } = await runJob(s3.client, {
        input: `s3://${src.name}/changing/`,
        output: `s3://${out.name}/changing/`,
        inventory,
      });
      expect(result.objects).toMatchObject({ done: 3, skipped: 3, failed: 0 });
      expect(result.skippedBy).toEqual({ 'changed-since-report': 1, archived: 2 });
      expect(
        run.logs.some(
          (l) =>
            l.msg === 'object changed or deleted since the report; skipped' && l.key === keys[1],
        ),
      ).toBe(true);
      // Archived objects were never asked for: one GET per other object, none for them.
      expect(s3.sent('GetObjectCommand')).toBe(4 + 1 /* manifest */ + 1 /* data file */);
      expect((await outputsUnder('changing/')).sort()).toEqual(
        [0, 2, 3].map((i) => `changing/obj ${i}+.txt`),
      );
    });

    it('reads the versions a Batch Operations manifest names, not the latest', async () => {
      const versioned = await createTestBucket(s3.client, 'rep-ver');
      try {
        await s3.client.send(
          new PutBucketVersioningCommand({
            Bucket: versioned.name,
            VersioningConfiguration: { Status: 'Enabled' },
          }),
        );
        const keys = ['data/a b+c.txt', 'data/ü 100%.txt', 'data/plain.txt'];
        const first = new Map<string, string>();
        for (const key of keys) {
          const v1 = await s3.client.send(
            new PutObjectCommand({ Bucket: versioned.name, Key: key, Body: `v1 of ${key}` }),
          );
          first.set(key, v1.VersionId!);
          await s3.client.send(
            new PutObjectCommand({ Bucket: versioned.name, Key: key, Body: `v2 of ${key}, newer` }),
          );
        }
        const enc = (k: string) => encodeURIComponent(k).replaceAll('%20', '+');
        const lines = [
          `${versioned.name},${enc(keys[0]!)},${first.get(keys[0]!)}`,
          `"${versioned.name}","${enc(keys[1]!)}","${first.get(keys[1]!)}"`,
          // No version: the current one.
          `${versioned.name},${enc(keys[2]!)}`,
        ];
        await s3.client.send(
          new PutObjectCommand({
            Bucket: reports.name,
            Key: 'batch/manifest.csv',
            Body: `${lines.join('\r\n')}\r\n`,
          }),
        );
        const { result } = await runJob(s3.client, {
          input: `s3://${versioned.name}/data/`,
          output: `s3://${out.name}/versions/`,
          manifest: `s3://${reports.name}/batch/manifest.csv`,
        });
        expect(result.objects).toMatchObject({ done: 3, skipped: 0, failed: 0 });
        const text = async (k: string) =>
          (await getBytes(s3.client, out.name, `versions/${k.slice(5)}`)).toString();
        expect(await text(keys[0]!)).toBe(`v1 of ${keys[0]}`);
        expect(await text(keys[1]!)).toBe(`v1 of ${keys[1]}`);
        expect(await text(keys[2]!)).toBe(`v2 of ${keys[2]}, newer`);
      } finally {
        await versioned.remove();
      }
    });

    for (const files of [6, 2]) {
      it(`4 shards over one report of ${files} data files process every object exactly once`, async () => {
        const some = rows;
        const inventory = await writeInventory(s3.client, {
          format: 'Parquet',
          bucket: reports.name,
          prefix: `shards-${files}/`,
          sourceBucket: src.name,
          rows: some,
          files,
        });
        const prefix = `shards-${files}/`;
        let done = 0;
        let listed = 0;
        for (let index = 0; index < 4; index++) {
          const { result, run } = await runJob(s3.client, {
            input: `s3://${src.name}/few/`,
            output: `s3://${out.name}/${prefix}`,
            inventory,
            shard: `${index}/4`,
            concurrency: 16,
          });
          expect(result.objects.failed).toBe(0);
          // No task met another's output: each object was taken by one task only.
          expect(result.skippedBy?.current).toBeUndefined();
          expect(result.objects.done).toBeLessThan(1_000);
          done += result.objects.done;
          listed += result.objects.listed ?? 0;
          const verified = run.logs.find((l) => l.msg === 'inventory report verified');
          // Enough files: each task downloads only its own; too few: every task reads all, once.
          expect(verified?.split).toBe(files >= 4 ? 'by-file' : 'by-key');
          if (files >= 4) expect(result.skippedBy?.['other-shard']).toBeUndefined();
        }
        expect(done).toBe(1_000);
        // Split by file, no row is read twice; by key, every task reads every row once.
        expect(listed).toBe(files >= 4 ? 1_000 : 4_000);
        const written = await outputsUnder(prefix);
        expect(written).toHaveLength(1_000);
        expect(written.sort()).toEqual(some.map((r) => `${prefix}${r.key.slice(4)}`).sort());
      });
    }
  });
});
