import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { runtimeOptionsSchema } from '../../src/config/runtime-options.js';
import { ConfigError } from '../../src/errors.js';
import {
  applyDefaultSuffixes,
  createBuiltinTransform,
  guessContentType,
} from '../../src/jobs/kit/builtin-transforms.js';
import { describeFailure, FailureReport } from '../../src/jobs/kit/failure-report.js';
import { recordMap, runChain, type TransformStage } from '../../src/jobs/kit/transforms.js';
import { streamTransformConfigSchema } from '../../src/jobs/stream-transform/config.js';
import { createObjectFilter } from '../../src/jobs/stream-transform/filters.js';
import { ObjectTransformJob } from '../../src/jobs/stream-transform/object-transform-job.js';
import { recordsSource, sourceMetadata } from '../../src/jobs/stream-transform/resume.js';

const MiB = 1024 ** 2;
const base = { input: 's3://in-bucket/logs/', output: 's3://out-bucket/gz/' };

async function through(input: Buffer | string[], stages: TransformStage[]): Promise<Buffer> {
  const source = Array.isArray(input)
    ? Readable.from(input.map((s) => Buffer.from(s)))
    : Readable.from([input]);
  const { output, done } = runChain(source, stages, new PassThrough());
  const chunks: Buffer[] = [];
  for await (const c of output) chunks.push(c as Buffer);
  await done;
  return Buffer.concat(chunks);
}

describe('stream-transform config', () => {
  it('fills documented defaults', () => {
    const c = streamTransformConfigSchema.parse(base);
    expect(c.input).toEqual({ bucket: 'in-bucket', prefix: 'logs/' });
    expect(c).toMatchObject({
      transform: ['identity'],
      concurrency: 8,
      overwrite: false,
      dryRun: false,
      sweepAge: 24 * 3_600_000,
      uploadFailureReport: true,
    });
    expect(c.maxFailures).toBeUndefined();
  });

  it('leaves part sizes and the memory bound to the runtime-wide transfer options', () => {
    const t = runtimeOptionsSchema.parse({});
    expect(t).toMatchObject({
      partSize: 8 * MiB,
      queueSize: 4,
      maxBufferedBytes: 128 * MiB,
      rangeThreshold: 64 * MiB,
      rangeSize: 8 * MiB,
      rangeConcurrency: 2,
    });
    expect(Object.keys(streamTransformConfigSchema.shape)).not.toContain('partSize');
    expect(runtimeOptionsSchema.safeParse({ partSize: '1MiB' }).success).toBe(false);
  });

  it('takes human sizes and durations', () => {
    const c = streamTransformConfigSchema.parse({
      ...base,
      maxSize: '16MiB',
      sweepAge: '2h',
      minSize: '1KiB',
    });
    expect([c.maxSize, c.sweepAge, c.minSize]).toEqual([16 * MiB, 7_200_000, 1024]);
  });

  it('lists every problem with its field path', () => {
    const r = streamTransformConfigSchema.safeParse({
      input: 'http://x/y',
      output: 's3://Bad_Bucket/x',
      concurrency: -1,
      minSize: 'lots',
      transform: ['gzip', 'brotli'],
      keyTemplate: '{rel_key}.gz',
      shard: '3/3',
      metadata: { 's3worker-source-etag': 'x' },
    });
    expect(r.success).toBe(false);
    const paths = new Set(r.error!.issues.map((i) => i.path.join('.')));
    for (const p of [
      'input',
      'output',
      'concurrency',
      'minSize',
      'transform.1',
      'keyTemplate',
      'shard',
      'metadata',
    ]) {
      expect(paths).toContain(p);
    }
  });

  it('describes every field (the CLI prints these in --help)', () => {
    for (const [name, field] of Object.entries(streamTransformConfigSchema.shape)) {
      expect(field.description, name).toMatch(/Default|Required/);
    }
  });

  it('rejects inconsistent combinations when the job is built', () => {
    const c = streamTransformConfigSchema.parse({
      ...base,
      sseKmsKeyId: 'k',
      minSize: 10,
      maxSize: 5,
    });
    expect(() => new ObjectTransformJob(c)).toThrow(ConfigError);
    const same = streamTransformConfigSchema.parse({ input: 's3://bkt/x/', output: 's3://bkt/x/' });
    expect(() => new ObjectTransformJob(same)).toThrow(/its own source/);
  });
});

describe('stream-transform permissions', () => {
  it('declares reads on the input, writes and the resume check on the output', () => {
    const job = new ObjectTransformJob(
      streamTransformConfigSchema.parse({ ...base, transform: ['gzip'] }),
    );
    const perms = job.permissions().map((p) => `${p.action} ${p.bucket}/${p.prefix}`);
    expect(perms).toEqual(
      expect.arrayContaining([
        's3:ListBucket in-bucket/logs/',
        's3:GetObject in-bucket/logs/',
        's3:GetObject out-bucket/gz/',
        's3:PutObject out-bucket/gz/',
        's3:AbortMultipartUpload out-bucket/gz/',
        's3:ListBucketMultipartUploads out-bucket/gz/',
        's3:ListBucket out-bucket/gz/',
      ]),
    );
    expect(perms.some((p) => p.startsWith('s3:PutObjectTagging') || p.startsWith('kms:'))).toBe(
      false,
    );
    expect(job.permissions().every((p) => p.reason.length > 5)).toBe(true);
  });

  it('adds tagging, KMS and the keys file when configured, and only reads in a dry run', () => {
    const job = new ObjectTransformJob(
      streamTransformConfigSchema.parse({
        ...base,
        tags: { team: 'data' },
        sse: 'aws:kms',
        sseKmsKeyId: 'alias/backups',
        keys: 's3://lists/keys.txt',
      }),
    );
    const actions = job.permissions().map((p) => p.action);
    expect(actions).toEqual(
      expect.arrayContaining(['s3:PutObjectTagging', 'kms:GenerateDataKey', 'kms:Decrypt']),
    );
    // A keys file replaces the input listing.
    expect(
      job.permissions().filter((p) => p.action === 's3:ListBucket' && p.bucket === 'in-bucket'),
    ).toEqual([]);
    expect(job.permissions().find((p) => p.bucket === 'lists')).toMatchObject({
      action: 's3:GetObject',
      prefix: 'keys.txt',
    });
    const dry = new ObjectTransformJob(
      streamTransformConfigSchema.parse({ ...base, dryRun: true }),
    );
    expect(dry.permissions().map((p) => p.action)).not.toContain('s3:PutObject');
    // HeadObject on a missing output is a 403, not a 404, without ListBucket on the output.
    expect(dry.permissions().map((p) => `${p.action} ${p.bucket}`)).toContain(
      's3:ListBucket out-bucket',
    );
  });
});

describe('filters', () => {
  const at = (iso: string) => new Date(iso);
  it('applies globs to the relative key, exclude winning over include', () => {
    const f = createObjectFilter({ include: ['**/*.log'], exclude: ['tmp/**'] });
    expect(f({ relKey: 'a/b.log', size: 1 })).toBe(true);
    expect(f({ relKey: 'b.log', size: 1 })).toBe(true);
    expect(f({ relKey: 'tmp/b.log', size: 1 })).toBe(false);
    expect(f({ relKey: 'a/b.txt', size: 1 })).toBe(false);
  });

  it('bounds sizes inclusively and dates as [after, before)', () => {
    const f = createObjectFilter({
      minSize: 10,
      maxSize: 20,
      modifiedAfter: at('2026-01-01T00:00:00Z'),
      modifiedBefore: at('2026-02-01T00:00:00Z'),
    });
    const ok = { relKey: 'x', size: 10, lastModified: at('2026-01-01T00:00:00Z') };
    expect(f(ok)).toBe(true);
    expect(f({ ...ok, size: 21 })).toBe(false);
    expect(f({ ...ok, size: 9 })).toBe(false);
    expect(f({ ...ok, lastModified: at('2026-02-01T00:00:00Z') })).toBe(false);
  });
});

describe('transforms', () => {
  it('gzip then gunzip gives the bytes back; zstd too', async () => {
    const data = Buffer.from('line of text\n'.repeat(50_000));
    const gz = await through(data, [createBuiltinTransform('gzip', { gzipLevel: 1 })!]);
    expect(gz.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(await through(gz, [createBuiltinTransform('gunzip')!])).toEqual(data);
    const zst = await through(data, [createBuiltinTransform('zstd', { zstdLevel: 1 })!]);
    expect(zst.length).toBeLessThan(data.length / 10);
    expect(await through(zst, [createBuiltinTransform('unzstd')!])).toEqual(data);
    expect(createBuiltinTransform('identity')).toBeUndefined();
  });

  it('fails the chain on corrupt gzip input', async () => {
    await expect(
      through(Buffer.from('not gzip at all'), [createBuiltinTransform('gunzip')!]),
    ).rejects.toThrow();
  });

  describe('a stage that waits on its own (a user transform pausing on a timer)', () => {
    /** Passes each chunk on, then waits a minute, unless its signal aborts. */
    const pausing: TransformStage = async function* pausing(
      source: AsyncIterable<Buffer>,
      { signal }: { signal?: AbortSignal } = {},
    ) {
      for await (const chunk of source) {
        yield chunk;
        await sleep(60_000, undefined, { signal });
      }
    };
    /** Settles the chain's `done`, or says it is still pending once the stage has paused. */
    const settled = (done: Promise<void>) =>
      Promise.race([
        done.then(
          () => 'resolved',
          () => 'rejected',
        ),
        sleep(2_000).then(() => 'pending'),
      ]);

    it("is torn down when the run's signal aborts", async () => {
      const abort = new AbortController();
      const sink = new PassThrough();
      const chain = runChain(
        Readable.from([Buffer.from('hello\n')]),
        [pausing],
        sink,
        abort.signal,
      );
      await once(sink, 'data');
      abort.abort(new Error('drain deadline passed'));
      expect(await settled(chain.done)).toBe('rejected');
    });

    it('is torn down when the upload fails and destroys the output with its error', async () => {
      const sink = new PassThrough();
      const chain = runChain(Readable.from([Buffer.from('hello\n')]), [pausing], sink);
      await once(sink, 'data');
      chain.output.destroy(new Error('upload failed'));
      expect(await settled(chain.done)).toBe('rejected');
    });
  });

  it('recordMap maps lines split across chunks and multibyte characters', async () => {
    const upper = recordMap((line: string) => line.toUpperCase());
    // Split "ñ" (2 bytes) across two chunks at the byte level.
    const nTilde = Buffer.from('ñ\nlast');
    const source = Readable.from([
      Buffer.from('ab'),
      Buffer.from('c\nü'),
      nTilde.subarray(0, 1),
      nTilde.subarray(1),
    ]);
    const { output, done } = runChain(source, [upper], new PassThrough());
    const out: Buffer[] = [];
    for await (const c of output) out.push(c as Buffer);
    await done;
    expect(Buffer.concat(out).toString()).toBe('ABC\nÜÑ\nLAST');
  });

  it('recordMap in JSON mode parses NDJSON, drops null results and writes objects as lines', async () => {
    const keepErrors = recordMap(
      (r: { level: string; n: number }) => (r.level === 'error' ? { n: r.n } : null),
      {
        json: true,
      },
    );
    const input = [
      '{"level":"info","n":1}\n{"level":"error","n":2}\n',
      '\n{"level":"error","n":3}\n',
    ];
    expect((await through(input, [keepErrors])).toString()).toBe('{"n":2}\n{"n":3}\n');
  });

  it('adds and removes compression suffixes in chain order', () => {
    expect(applyDefaultSuffixes('a/b.txt', ['gzip'])).toBe('a/b.txt.gz');
    expect(applyDefaultSuffixes('a/b.txt.gz', ['gunzip'])).toBe('a/b.txt');
    expect(applyDefaultSuffixes('b.bin', ['gunzip'])).toBe('b.bin');
    expect(applyDefaultSuffixes('a.gz', ['gunzip', 'zstd'])).toBe('a.zst');
    expect(applyDefaultSuffixes('a', ['identity'])).toBe('a');
  });

  it('sets the content type from the last compression, else the extension', () => {
    expect(guessContentType('x/a.txt.gz', ['gzip'])).toBe('application/gzip');
    expect(guessContentType('x/a.zst', ['gunzip', 'zstd'])).toBe('application/zstd');
    expect(guessContentType('x/a.json', ['gunzip'])).toBe('application/json');
    expect(guessContentType('x/a.weird', ['identity'])).toBe('application/octet-stream');
  });
});

describe('resume metadata', () => {
  const source = {
    bucket: 'in',
    key: 'dir/ünï +%.txt',
    etag: '"abc"',
    size: 3,
    transform: 'stream-transform:gzip',
    fingerprint: 'f1',
  };
  it('records the source in ASCII metadata and recognises it', () => {
    const meta = sourceMetadata(source);
    for (const v of Object.values(meta)) expect(v).toMatch(/^[\x20-\x7e]*$/);
    expect(recordsSource(meta, source)).toBe(true);
  });

  it('does not match another source version or another chain', () => {
    const meta = sourceMetadata(source);
    expect(recordsSource(meta, { ...source, etag: '"abd"' })).toBe(false);
    expect(recordsSource(meta, { ...source, transform: 'stream-transform:zstd' })).toBe(false);
    expect(recordsSource(meta, { ...source, fingerprint: 'f2' })).toBe(false);
    expect(recordsSource(undefined, source)).toBe(false);
  });
});

describe('failure report', () => {
  it('keeps code, message and attempts of SDK-style errors', () => {
    const err = Object.assign(new Error('Access Denied.'), {
      name: 'AccessDenied',
      $metadata: { attempts: 3 },
    });
    expect(describeFailure('k', 'out/k', err)).toEqual({
      key: 'k',
      outputKey: 'out/k',
      code: 'AccessDenied',
      message: 'Access Denied.',
      attempts: 3,
    });
    const zerr = Object.assign(new Error('incorrect header check'), { code: 'Z_DATA_ERROR' });
    expect(describeFailure('k', undefined, zerr)).toMatchObject({
      code: 'Z_DATA_ERROR',
      attempts: 1,
    });
  });

  it('counts every failure', () => {
    const report = new FailureReport({ runId: 'r', job: 'j', input: 'i', output: 'o' });
    report.add({ key: 'a', code: 'X', message: 'm', attempts: 1 });
    expect(report.toJSON()).toMatchObject({ runId: 'r', failed: 1, failures: [{ key: 'a' }] });
  });
});
