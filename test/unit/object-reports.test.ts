import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { ConfigError, ExitCode } from '../../src/errors.js';
import { parseManifestLine } from '../../src/jobs/kit/object-reports/batch-manifest.js';
import { csvFields } from '../../src/jobs/kit/object-reports/csv-fields.js';
import { decodeReportKey } from '../../src/jobs/kit/object-reports/decode-report-key.js';
import { parseInventoryManifest } from '../../src/jobs/kit/object-reports/inventory-manifest.js';
import { filesOfShard } from '../../src/jobs/kit/object-reports/inventory-report.js';
import {
  columnName,
  csvInventoryRows,
  parquetInventoryRows,
} from '../../src/jobs/kit/object-reports/inventory-rows.js';
import { isArchived } from '../../src/jobs/kit/object-reports/is-archived.js';
import { ReportError } from '../../src/jobs/kit/object-reports/report-error.js';
import { streamTransformConfigSchema } from '../../src/jobs/stream-transform/config.js';
import { ObjectTransformJob } from '../../src/jobs/stream-transform/object-transform-job.js';

/** Encodes a key as S3 Inventory CSV does: form encoding, space as `+`. */
const formEncode = (key: string) => new URLSearchParams({ k: key }).toString().slice(2);

const MD5 = 'd41d8cd98f00b204e9800998ecf8427e';
const manifest = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({
    sourceBucket: 'src',
    destinationBucket: 'arn:aws:s3:::reports',
    version: '2016-11-30',
    fileFormat: 'CSV',
    fileSchema: 'Bucket, Key, Size, LastModifiedDate, ETag, StorageClass',
    files: [{ key: 'inv/src/cfg/data/a.csv.gz', size: 10, MD5checksum: MD5 }],
    ...fields,
  });

function reportError(fn: () => unknown): ReportError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ReportError);
    expect((err as ReportError).exitCode).toBe(ExitCode.BadInput);
    return err as ReportError;
  }
  throw new Error('expected a ReportError');
}

describe('report keys', () => {
  it('decodes form encoding: + is a space, %2B a plus, %XX UTF-8 bytes', () => {
    expect(decodeReportKey('a+b.txt')).toBe('a b.txt');
    expect(decodeReportKey('a%2Bb.txt')).toBe('a+b.txt');
    expect(decodeReportKey('100%25.txt')).toBe('100%.txt');
    expect(decodeReportKey('dir%2F%C3%BCn%C3%AF+c%C3%B6de%E2%9C%93.txt')).toBe('dir/ünï cöde✓.txt');
    expect(decodeReportKey('plain/key.txt')).toBe('plain/key.txt');
  });

  it('round-trips keys with spaces, +, % and unicode as S3 encodes them', () => {
    for (const key of ['a b+c%d.txt', 'x/ü ü/+/%/', '日本語 ファイル+%20.json', '~!*()\'"', ' ']) {
      expect(decodeReportKey(formEncode(key))).toBe(key);
    }
  });

  it('rejects a % not followed by two hex digits, and bytes that are not UTF-8', () => {
    expect(decodeReportKey('a%2')).toBeUndefined();
    expect(decodeReportKey('a%zzb')).toBeUndefined();
    expect(decodeReportKey('a%FFb')).toBeUndefined();
  });
});

describe('CSV fields', () => {
  it('splits quoted and bare fields, with "" inside quotes', () => {
    expect(csvFields('"a","b c",""')).toEqual(['a', 'b c', '']);
    expect(csvFields('bucket,key,v1')).toEqual(['bucket', 'key', 'v1']);
    expect(csvFields('"a ""q"", b",x')).toEqual(['a "q", b', 'x']);
    expect(csvFields('a,')).toEqual(['a', '']);
  });

  it('refuses an unterminated quote or text after a closing quote', () => {
    expect(csvFields('"a,b')).toBeUndefined();
    expect(csvFields('"a"b,c')).toBeUndefined();
    expect(csvFields('a"b,c')).toBeUndefined();
  });

  it('maps CSV schema names to the Parquet column names', () => {
    expect(columnName('ETag')).toBe('e_tag');
    expect(columnName('IntelligentTieringAccessTier')).toBe('intelligent_tiering_access_tier');
    expect(columnName('LastModifiedDate')).toBe('last_modified_date');
    expect(columnName('Key')).toBe('key');
  });
});

describe('inventory manifest.json', () => {
  it('reads buckets, format, columns and files', () => {
    const m = parseInventoryManifest(manifest(), 'm');
    expect(m).toEqual({
      sourceBucket: 'src',
      destinationBucket: 'reports',
      fileFormat: 'CSV',
      columns: ['Bucket', 'Key', 'Size', 'LastModifiedDate', 'ETag', 'StorageClass'],
      files: [{ key: 'inv/src/cfg/data/a.csv.gz', size: 10, md5: MD5 }],
    });
    expect(parseInventoryManifest(manifest({ fileFormat: 'Parquet' }), 'm').fileFormat).toBe(
      'Parquet',
    );
  });

  it('says what is wrong with a file that is not a manifest', () => {
    expect(
      reportError(() => parseInventoryManifest('{"files": [', 's3://b/m.json')).message,
    ).toMatch(/s3:\/\/b\/m\.json is not a usable S3 Inventory manifest: not JSON/);
    const e = reportError(() =>
      parseInventoryManifest(
        manifest({ sourceBucket: undefined, files: [{ key: 'a', size: -1, MD5checksum: 'x' }] }),
        'm',
      ),
    );
    expect(e.message).toContain('"sourceBucket" is missing');
    expect(e.message).toContain('files[0].size is not a byte count');
    expect(e.message).toContain('files[0].MD5checksum is not a hex MD5');
    expect(e.hint).toMatch(/manifest\.json that S3 Inventory wrote/);
    expect(
      reportError(() => parseInventoryManifest(manifest({ fileSchema: 'Bucket, Size' }), 'm'))
        .message,
    ).toMatch(/no Key column/);
    expect(
      reportError(() => parseInventoryManifest(manifest({ fileFormat: 'XML' }), 'm')).message,
    ).toMatch(/expected CSV or Parquet/);
  });

  it('refuses ORC, naming the formats it reads', () => {
    const e = reportError(() => parseInventoryManifest(manifest({ fileFormat: 'ORC' }), 'm'));
    expect(e.code).toBe('REPORT_FORMAT_UNSUPPORTED');
    expect(e.message).toMatch(/supported formats: CSV, Parquet/);
    expect(e.hint).toMatch(/CSV or Parquet/);
  });
});

describe('Batch Operations manifest lines', () => {
  it('reads bucket,key and bucket,key,versionId with decoded keys', () => {
    expect(parseManifestLine('b,a+b%2B%25.txt', 1, 'm')).toEqual({ bucket: 'b', key: 'a b+%.txt' });
    expect(parseManifestLine('"b","k%C3%BC","3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"', 1, 'm')).toEqual({
      bucket: 'b',
      key: 'kü',
      versionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY',
    });
    expect(parseManifestLine('b,k,', 1, 'm')).toEqual({ bucket: 'b', key: 'k' });
  });

  it('names the line and what is wrong with it', () => {
    expect(reportError(() => parseManifestLine('only-a-bucket', 7, 's3://b/m.csv')).message).toBe(
      's3://b/m.csv line 7: 1 field(s); expected bucket,key or bucket,key,versionId',
    );
    expect(reportError(() => parseManifestLine('b,k,v,x', 2, 'm')).message).toMatch(/4 field/);
    expect(reportError(() => parseManifestLine('b,bad%zz', 3, 'm')).message).toMatch(
      /line 3: key "bad%zz" is not URL-encoded UTF-8/,
    );
    expect(reportError(() => parseManifestLine(',k', 4, 'm')).message).toMatch(/bucket is empty/);
  });
});

describe('shards over a report', () => {
  it('gives every data file to exactly one shard, balanced by bytes', () => {
    const files = Array.from({ length: 23 }, (_, i) => ({
      key: `data/${i}.csv.gz`,
      size: 1000 + ((i * 7919) % 5000),
      md5: MD5,
    }));
    const shards = [0, 1, 2, 3].map((index) => filesOfShard(files, { index, count: 4 }));
    const keys = shards.flat().map((f) => f.key);
    expect(keys.sort()).toEqual(files.map((f) => f.key).sort());
    const bytes = shards.map((s) => s.reduce((n, f) => n + f.size, 0));
    expect(Math.max(...bytes) - Math.min(...bytes)).toBeLessThanOrEqual(6000);
    // The same on every task, whatever order the manifest lists the files in.
    expect(filesOfShard([...files].reverse(), { index: 2, count: 4 })).toEqual(shards[2]);
  });
});

describe('archived objects', () => {
  it('are the archive classes and the archive tiers of INTELLIGENT_TIERING', () => {
    const o = { bucket: 'b', key: 'k' };
    expect(isArchived({ ...o, storageClass: 'GLACIER' })).toBe(true);
    expect(isArchived({ ...o, storageClass: 'DEEP_ARCHIVE' })).toBe(true);
    expect(
      isArchived({ ...o, storageClass: 'INTELLIGENT_TIERING', accessTier: 'ARCHIVE_ACCESS' }),
    ).toBe(true);
    expect(
      isArchived({ ...o, storageClass: 'INTELLIGENT_TIERING', accessTier: 'DEEP_ARCHIVE_ACCESS' }),
    ).toBe(true);
    expect(
      isArchived({
        ...o,
        storageClass: 'INTELLIGENT_TIERING',
        accessTier: 'ARCHIVE_INSTANT_ACCESS',
      }),
    ).toBe(false);
    expect(isArchived({ ...o, storageClass: 'GLACIER_IR' })).toBe(false);
    expect(isArchived({ ...o, storageClass: 'STANDARD' })).toBe(false);
    expect(isArchived(o)).toBe(false);
  });
});

describe('stream-transform with a report as its source', () => {
  const base = { input: 's3://in-bucket/data/', output: 's3://out-bucket/x/' };
  const parse = (extra: Record<string, unknown>) =>
    streamTransformConfigSchema.parse({ ...base, ...extra });

  it('takes one source of objects: inventory, manifest, keys and queue exclude one another', () => {
    const inv = 's3://reports/inv/in-bucket/cfg/2026-12-07T01-00Z/manifest.json';
    expect(() => new ObjectTransformJob(parse({ inventory: inv }))).not.toThrow();
    const both = () =>
      new ObjectTransformJob(parse({ inventory: inv, manifest: 's3://ops/m.csv', keys: 'k.txt' }));
    expect(both).toThrow(ConfigError);
    expect(both).toThrow(/manifest: cannot be combined with inventory/);
    expect(both).toThrow(/inventory: cannot be combined with keys/);
    expect(
      () =>
        new ObjectTransformJob(
          parse({ manifest: 's3://ops/m.csv', queue: 'http://127.0.0.1:9324/000000000000/q' }),
        ),
    ).toThrow(/manifest: cannot be combined with queue/);
    expect(
      streamTransformConfigSchema.safeParse({ ...base, inventory: 's3://reports/' }).success,
    ).toBe(false);
  });

  it('asks for the report and its data files, versions for a manifest, and no input listing', () => {
    const inv = new ObjectTransformJob(
      parse({ inventory: 's3://reports/inv/in-bucket/cfg/2026-12-07T01-00Z/manifest.json' }),
    ).permissions();
    expect(inv).toContainEqual(
      expect.objectContaining({
        action: 's3:GetObject',
        bucket: 'reports',
        prefix: 'inv/in-bucket/cfg/',
      }),
    );
    expect(inv.some((p) => p.action === 's3:ListBucket' && p.bucket === 'in-bucket')).toBe(false);
    const man = new ObjectTransformJob(parse({ manifest: 's3://ops/m/restore.csv' })).permissions();
    expect(man).toContainEqual(
      expect.objectContaining({ action: 's3:GetObject', bucket: 'ops', prefix: 'm/restore.csv' }),
    );
    expect(man).toContainEqual(
      expect.objectContaining({
        action: 's3:GetObjectVersion',
        bucket: 'in-bucket',
        prefix: 'data/',
      }),
    );
  });
});

describe('inventory data files on disk', () => {
  const rows = [
    { key: 'a b+c/100%.txt', size: 3, etag: 'abc', storage: 'STANDARD' },
    { key: 'ünï/✓.bin', size: 0, etag: 'def-2', storage: 'GLACIER' },
  ];

  it('reads a gzip CSV file by its fileSchema, decoding keys', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'inv-unit-'));
    try {
      const enc = (k: string) => new URLSearchParams({ k }).toString().slice(2);
      const lines = rows.map((r) =>
        ['b', enc(r.key), String(r.size), 'ignored', r.etag, r.storage]
          .map((f) => `"${f}"`)
          .join(','),
      );
      await writeFile(join(dir, 'f'), gzipSync(`${lines.join('\n')}\n`));
      const schema = ['Bucket', 'Key', 'Size', 'EncryptionStatus', 'ETag', 'StorageClass'];
      const read = [];
      for await (const row of csvInventoryRows(
        join(dir, 'f'),
        schema,
        'f',
        AbortSignal.timeout(10_000),
      ))
        read.push(row);
      expect(read).toEqual(
        rows.map((r) => ({
          bucket: 'b',
          key: r.key,
          size: String(r.size),
          e_tag: r.etag,
          storage_class: r.storage,
        })),
      );
      await writeFile(join(dir, 'g'), gzipSync('"b","k"\n"b"\n'));
      const short = async () => {
        for await (const _ of csvInventoryRows(
          join(dir, 'g'),
          ['Bucket', 'Key'],
          's3://r/g',
          AbortSignal.timeout(10_000),
        ));
      };
      await expect(short()).rejects.toThrow('s3://r/g line 2: 1 fields where fileSchema names 2');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads a GZIP-compressed Parquet file row group by row group', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'inv-unit-'));
    try {
      const many = Array.from({ length: 2_500 }, (_, i) => ({
        ...rows[i % 2]!,
        key: `k${i} ${rows[i % 2]!.key}`,
      }));
      const buffer = parquetWriteBuffer({
        columnData: [
          { name: 'bucket', data: many.map(() => 'b'), type: 'STRING' },
          { name: 'key', data: many.map((r) => r.key), type: 'STRING' },
          { name: 'size', data: many.map((r) => BigInt(r.size)), type: 'INT64' },
          { name: 'e_tag', data: many.map((r) => r.etag), type: 'STRING' },
          { name: 'acl', data: many.map(() => 'not read'), type: 'STRING' },
        ],
        codec: 'GZIP',
        compressors: { GZIP: (input: Uint8Array) => new Uint8Array(gzipSync(input)) },
        rowGroupSize: 1_000,
      });
      await writeFile(join(dir, 'p'), Buffer.from(buffer));
      const read = [];
      for await (const row of parquetInventoryRows(
        join(dir, 'p'),
        'p',
        AbortSignal.timeout(10_000),
      ))
        read.push(row);
      expect(read).toHaveLength(2_500);
      expect(read[2_499]).toEqual({ bucket: 'b', key: many[2_499]!.key, size: 0n, e_tag: 'def-2' });
      await writeFile(join(dir, 'q'), 'not parquet at all');
      const bad = async () => {
        for await (const _ of parquetInventoryRows(
          join(dir, 'q'),
          's3://r/q',
          AbortSignal.timeout(10_000),
        ));
      };
      await expect(bad()).rejects.toThrow(/s3:\/\/r\/q could not be read as Parquet/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
