import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import {
  CreateMultipartUploadCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import type { FailureReportDocument } from '../../src/jobs/kit/failure-report.js';
import { recordMap } from '../../src/jobs/kit/transforms.js';
import { ObjectTransformJob } from '../../src/jobs/stream-transform/object-transform-job.js';
import type { SourceObject } from '../../src/jobs/stream-transform/source-object.js';
import {
  type CountingClient,
  countingClient,
  getBytes,
  incompleteUploads,
  listKeys,
  putLargeObject,
  putObjects,
  runJob,
  sha256Of,
  WRITE_COMMANDS,
} from '../fixtures/stream-transform/harness.js';
import { createTestBucket } from '../support/s3.js';

const MiB = 1024 * 1024;

// Several tests move 100 MiB or hundreds of objects: room for a loaded 2-core machine.
describe('stream-transform job against MinIO', { timeout: 300_000 }, () => {
  const servers = inject('servers');
  let s3: CountingClient;
  let bucket: { name: string; remove: () => Promise<void> };
  let out: { name: string; remove: () => Promise<void> };

  beforeAll(async () => {
    s3 = countingClient(servers.s3);
    bucket = await createTestBucket(s3.client, 'st-in');
    out = await createTestBucket(s3.client, 'st-out');
  });

  afterAll(async () => {
    await bucket?.remove();
    await out?.remove();
    s3?.client.destroy();
  });

  it('reports a corrupt gzip and writes every good object', async () => {
    const good = Array.from({ length: 6 }, (_, i) => ({
      key: `corrupt-case/good-${i}.txt.gz`,
      body: gzipSync(`line ${i}\n`.repeat(1000 + i)),
    }));
    const bad = {
      key: 'corrupt-case/bad.txt.gz',
      body: Buffer.concat([gzipSync('x'.repeat(5000)).subarray(0, 20), Buffer.from('garbage!')]),
    };
    await putObjects(s3.client, bucket.name, [...good, bad]);
    const reportPath = join(process.env.TMPDIR ?? '/tmp', `st-report-${Date.now()}.json`);

    const { result, run } = await runJob(s3.client, {
      input: `s3://${bucket.name}/corrupt-case/`,
      output: `s3://${out.name}/corrupt-out/`,
      transform: ['gunzip'],
      failureReport: reportPath,
    });

    expect(result.objects).toMatchObject({ done: 6, skipped: 0, failed: 1 });
    const written = await listKeys(s3.client, out.name, 'corrupt-out/');
    expect(written.filter((k) => !k.includes('_s3worker/')).sort()).toEqual(
      good.map((g) => g.key.replace('corrupt-case/', 'corrupt-out/').replace(/\.gz$/, '')).sort(),
    );
    const local = JSON.parse(await readFile(reportPath, 'utf8')) as FailureReportDocument;
    expect(local.failures).toEqual([
      expect.objectContaining({
        key: bad.key,
        outputKey: 'corrupt-out/bad.txt',
        code: 'Z_DATA_ERROR',
        attempts: 1,
      }),
    ]);
    const uploaded = JSON.parse(
      (
        await getBytes(s3.client, out.name, `corrupt-out/_s3worker/failures-${run.ctx.runId}.json`)
      ).toString(),
    ) as FailureReportDocument;
    expect(uploaded.failed).toBe(1);
    expect(result.failureReport).toBe(reportPath);
    expect(await incompleteUploads(s3.client, out.name)).toBe(0);
  });

  it('maps keys with spaces, unicode, + and % exactly and never escapes the output prefix', async () => {
    const keys = [
      'tricky/sp ace/file one.txt',
      'tricky/ünï/日本語.txt',
      'tricky/plus+sign/a+b.txt',
      'tricky/pct/100%.txt',
      'tricky/pct/%2F%20.txt',
      'tricky/deep/a/b.txt',
      'tricky/top.txt',
    ];
    const hashes = await putObjects(
      s3.client,
      bucket.name,
      keys.map((key) => ({ key, body: `body of ${key}` })),
    );

    const plain = await runJob(s3.client, {
      input: `s3://${bucket.name}/tricky/`,
      output: `s3://${out.name}/tricky-out`,
    });
    expect(plain.result.objects.done).toBe(keys.length);
    const written = await listKeys(s3.client, out.name, 'tricky-out/');
    expect(written.sort()).toEqual(keys.map((k) => k.replace('tricky/', 'tricky-out/')).sort());
    for (const key of keys) {
      expect(await sha256Of(s3.client, out.name, key.replace('tricky/', 'tricky-out/'))).toBe(
        hashes.get(key),
      );
    }

    // `..` inside the prefix is resolved; one that climbs above it fails that object only.
    const up = await runJob(s3.client, {
      input: `s3://${bucket.name}/tricky/`,
      output: `s3://${out.name}/tricky-up/`,
      keyTemplate: '{dir}/../{name}.out{ext}',
    });
    expect(up.result.objects).toMatchObject({ done: keys.length - 1, skipped: 0, failed: 1 });
    // Listing the whole bucket: nothing may land outside `tricky-up/` (or the earlier runs' prefixes).
    const all = await listKeys(s3.client, out.name, '');
    const upKeys = all.filter((k) => !k.startsWith('tricky-out/') && !k.startsWith('corrupt-out/'));
    expect(upKeys.filter((k) => !k.includes('/_s3worker/')).sort()).toEqual(
      [
        'tricky-up/file one.out.txt',
        'tricky-up/日本語.out.txt',
        'tricky-up/a+b.out.txt',
        'tricky-up/100%.out.txt',
        'tricky-up/%2F%20.out.txt',
        'tricky-up/deep/b.out.txt',
      ].sort(),
    );
    expect(
      upKeys.filter((k) => k.startsWith(`tricky-up/_s3worker/failures-${up.run.ctx.runId}`)),
    ).toHaveLength(1);
    const failure = up.run.logs.find((l) => l.msg === 'object failed');
    expect(failure).toMatchObject({ key: 'tricky/top.txt', code: 'UNSAFE_OUTPUT_KEY' });
  });

  it('splits the work across shards 0/3, 1/3, 2/3: every object exactly once', async () => {
    const keys = Array.from(
      { length: 90 },
      (_, i) => `shards/obj-${String(i).padStart(3, '0')}.txt`,
    );
    await putObjects(
      s3.client,
      bucket.name,
      keys.map((key) => ({ key, body: key })),
    );
    s3.reset();
    const results = await Promise.all(
      ['0/3', '1/3', '2/3'].map((shard) =>
        runJob(s3.client, {
          input: `s3://${bucket.name}/shards/`,
          output: `s3://${out.name}/sharded/`,
          shard,
        }),
      ),
    );
    const done = results.map((r) => r.result.objects.done);
    expect(done.every((n) => n > 0)).toBe(true);
    expect(done.reduce((a, b) => a + b, 0)).toBe(keys.length);
    expect(
      results.every(
        (r) => r.result.objects.failed === 0 && r.result.skippedBy?.current === undefined,
      ),
    ).toBe(true);
    expect(s3.sent('PutObjectCommand')).toBe(keys.length);
    expect((await listKeys(s3.client, out.name, 'sharded/')).sort()).toEqual(
      keys.map((k) => k.replace('shards/', 'sharded/')),
    );
  });

  it('writes nothing in a dry run and logs each source → output key', async () => {
    const keys = ['dry/a.log', 'dry/b/c.log', 'dry/skip.txt'];
    await putObjects(
      s3.client,
      bucket.name,
      keys.map((key) => ({ key, body: 'hello\n' })),
    );
    s3.reset();
    const { result, run } = await runJob(s3.client, {
      input: `s3://${bucket.name}/dry/`,
      output: `s3://${out.name}/dry-out/`,
      include: ['**/*.log'],
      transform: ['gzip'],
      dryRun: true,
    });
    expect(result.objects).toEqual({ listed: 3, done: 2, skipped: 1, failed: 0 });
    expect(result.skippedBy).toEqual({ filtered: 1 });
    expect(s3.sent(...WRITE_COMMANDS, 'GetObjectCommand')).toBe(0);
    expect(await listKeys(s3.client, out.name, 'dry-out/')).toEqual([]);
    const planned = run.logs
      .filter((l) => l.msg === 'dry run: would write')
      .map((l) => [l.key, l.outputKey]);
    expect(planned.sort()).toEqual([
      ['dry/a.log', 'dry-out/a.log.gz'],
      ['dry/b/c.log', 'dry-out/b/c.log.gz'],
    ]);
  });

  it('resumes: a second run skips every finished output without writing', async () => {
    const keys = Array.from({ length: 25 }, (_, i) => `resume/r-${i}.txt`);
    await putObjects(
      s3.client,
      bucket.name,
      keys.map((key) => ({ key, body: `${key}\n`.repeat(100) })),
    );
    const config = {
      input: `s3://${bucket.name}/resume/`,
      output: `s3://${out.name}/resume-out/`,
      transform: ['zstd' as const],
    };
    s3.reset();
    const first = await runJob(s3.client, config);
    expect(first.result.objects.done).toBe(keys.length);
    // The output prefix was empty: no per-object resume check on a first run.
    expect(s3.sent('HeadObjectCommand')).toBe(0);
    const head = await s3.client.send(
      new HeadObjectCommand({ Bucket: out.name, Key: 'resume-out/r-0.txt.zst' }),
    );
    expect(head.Metadata).toMatchObject({
      's3worker-source-key': 'resume%2Fr-0.txt',
      's3worker-transform': 'stream-transform:zstd',
    });
    expect(head.ContentType).toBe('application/zstd');

    s3.reset();
    const second = await runJob(s3.client, config);
    expect(second.result.objects).toMatchObject({ done: 0, skipped: keys.length, failed: 0 });
    expect(s3.sent('HeadObjectCommand')).toBe(keys.length);
    expect(s3.sent(...WRITE_COMMANDS, 'GetObjectCommand')).toBe(0);

    // A changed source is redone; another chain over the same outputs is not "already done".
    await s3.client.send(
      new PutObjectCommand({ Bucket: bucket.name, Key: keys[3]!, Body: 'changed\n' }),
    );
    const third = await runJob(s3.client, { ...config, overwrite: true });
    expect(third.result.objects).toMatchObject({ done: 1, skipped: keys.length - 1, failed: 0 });
    const noOverwrite = await runJob(s3.client, {
      ...config,
      keyTemplate: '{relkey}.zst',
      gzipLevel: 1,
      transform: ['identity', 'zstd'],
    });
    expect(noOverwrite.result.objects.failed).toBe(keys.length);
    expect(noOverwrite.run.logs.find((l) => l.msg === 'object failed')).toMatchObject({
      code: 'OutputExists',
    });
  });

  it('two tasks racing over the same outputs write each output once and fail nothing', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `race/r-${i}.txt`);
    await putObjects(
      s3.client,
      bucket.name,
      keys.map((key) => ({ key, body: `${key}\n` })),
    );
    s3.reset();
    const config = {
      input: `s3://${bucket.name}/race/`,
      output: `s3://${out.name}/race-out/`,
      concurrency: 4,
    };
    const [a, b] = await Promise.all([runJob(s3.client, config), runJob(s3.client, config)]);
    for (const r of [a, b]) {
      expect(r.result.objects.failed).toBe(0);
      expect(r.result.objects.done + r.result.objects.skipped).toBe(keys.length);
    }
    // If-None-Match lets one write per key succeed; the loser re-checks and counts it skipped.
    expect(a.result.objects.done + b.result.objects.done).toBe(keys.length);
    expect((await listKeys(s3.client, out.name, 'race-out/')).length).toBe(keys.length);
  });

  it('on a stop request finishes what is in flight, starts nothing new, and a re-run does the rest', async () => {
    const keys = Array.from({ length: 150 }, (_, i) => `stop/s-${String(i).padStart(3, '0')}.txt`);
    await putObjects(
      s3.client,
      bucket.name,
      keys.map((key) => ({ key, body: key })),
    );
    const config = {
      input: `s3://${bucket.name}/stop/`,
      output: `s3://${out.name}/stop-out/`,
      concurrency: 2,
    };
    const first = await runJob(s3.client, config, {
      onStart: (run) => {
        const timer = setInterval(() => {
          if (run.progress.outcomes.done >= 5) {
            clearInterval(timer);
            run.stop();
          }
        }, 5);
      },
    });
    expect(first.result.interrupted).toBe(true);
    expect(first.result.objects.failed).toBe(0);
    expect(first.result.objects.done).toBeGreaterThanOrEqual(5);
    expect(first.result.objects.done).toBeLessThan(keys.length);
    // Nothing was left half done: every started object was finished.
    expect((await listKeys(s3.client, out.name, 'stop-out/')).length).toBe(
      first.result.objects.done,
    );
    expect(first.run.logs.find((l) => l.msg === 'stream-transform finished')).toMatchObject({
      stopReason: 'stop-signal',
    });

    const second = await runJob(s3.client, config);
    expect(second.result.objects).toMatchObject({
      done: keys.length - first.result.objects.done,
      skipped: first.result.objects.done,
      failed: 0,
    });
  });

  it('stops with the bucket error when a bucket does not exist, instead of failing object by object', async () => {
    await putObjects(s3.client, bucket.name, [
      { key: 'nobucket/a.txt', body: 'a' },
      { key: 'nobucket/b.txt', body: 'b' },
    ]);
    const missing = `${out.name}-missing`;
    await expect(
      runJob(s3.client, { input: `s3://${missing}/x/`, output: `s3://${out.name}/nobucket/` }),
    ).rejects.toMatchObject({ code: 'NO_SUCH_BUCKET', exitCode: ExitCode.NoSuchBucket });
    await expect(
      runJob(s3.client, { input: `s3://${bucket.name}/nobucket/`, output: `s3://${missing}/y/` }),
    ).rejects.toMatchObject({ code: 'NO_SUCH_BUCKET', exitCode: ExitCode.NoSuchBucket });
  });

  it('sweeps incomplete uploads older than sweepAge under the output prefix, and only those', async () => {
    const sweepOut = await createTestBucket(s3.client, 'st-sweep');
    try {
      for (const key of ['swept/left-by-a-killed-task', 'elsewhere/not-ours']) {
        await s3.client.send(new CreateMultipartUploadCommand({ Bucket: sweepOut.name, Key: key }));
      }
      await putObjects(s3.client, bucket.name, [{ key: 'sweep-in/a.txt', body: 'a' }]);
      const config = {
        input: `s3://${bucket.name}/sweep-in/`,
        output: `s3://${sweepOut.name}/swept/`,
      };
      await runJob(s3.client, config);
      // The default age (24h) leaves a fresh upload alone: it may belong to a running task.
      expect(await incompleteUploads(s3.client, sweepOut.name)).toBe(2);
      // Past any rounding of the server's Initiated time to whole seconds.
      await sleep(1100);
      const { run } = await runJob(s3.client, { ...config, sweepAge: '10ms' });
      expect(await incompleteUploads(s3.client, sweepOut.name)).toBe(1);
      expect(run.logs.find((l) => l.msg === 'swept incomplete uploads')).toMatchObject({
        aborted: 1,
      });
    } finally {
      await sweepOut.remove();
    }
  });

  it('stops at the first failure with maxFailures 0', async () => {
    await putObjects(s3.client, bucket.name, [
      { key: 'failfast/a-corrupt.gz', body: 'not gzip' },
      ...Array.from({ length: 20 }, (_, i) => ({
        key: `failfast/b-${i}.gz`,
        body: gzipSync(`ok ${i}`),
      })),
    ]);
    const { result } = await runJob(s3.client, {
      input: `s3://${bucket.name}/failfast/`,
      output: `s3://${out.name}/failfast-out/`,
      transform: ['gunzip'],
      maxFailures: 0,
      concurrency: 1,
    });
    expect(result.objects).toMatchObject({ done: 0, skipped: 0, failed: 1 });
    expect(result.interrupted).toBeUndefined();
  });

  it('processes exactly the keys of a keys file, failing the missing one', async () => {
    const keys = ['keys/one.txt', 'keys/two words.txt', 'keys/three.txt', 'keys/not-listed.txt'];
    await putObjects(
      s3.client,
      bucket.name,
      keys.map((key) => ({ key, body: key })),
    );
    const keysFile = join(process.env.TMPDIR ?? '/tmp', `st-keys-${Date.now()}.txt`);
    await writeFile(
      keysFile,
      'keys/one.txt\r\nkeys/two words.txt\n\nkeys/three.txt\nkeys/missing.txt\n',
    );
    const { result, run } = await runJob(s3.client, {
      input: `s3://${bucket.name}/keys/`,
      output: `s3://${out.name}/keys-out/`,
      keys: keysFile,
    });
    expect(result.objects).toMatchObject({ done: 3, skipped: 0, failed: 1 });
    expect(
      (await listKeys(s3.client, out.name, 'keys-out/'))
        .filter((k) => !k.includes('_s3worker'))
        .sort(),
    ).toEqual(['keys-out/one.txt', 'keys-out/three.txt', 'keys-out/two words.txt']);
    expect(run.logs.find((l) => l.msg === 'object failed')).toMatchObject({
      key: 'keys/missing.txt',
    });

    // The same list read from S3; keys outside the input prefix are refused.
    await s3.client.send(
      new PutObjectCommand({
        Bucket: bucket.name,
        Key: 'lists/keys.txt',
        Body: 'keys/one.txt\nother/x.txt\n',
      }),
    );
    const fromS3 = await runJob(s3.client, {
      input: `s3://${bucket.name}/keys/`,
      output: `s3://${out.name}/keys-s3/`,
      keys: `s3://${bucket.name}/lists/keys.txt`,
    });
    expect(fromS3.result.objects).toMatchObject({ done: 1, skipped: 0, failed: 1 });
    expect(fromS3.run.logs.find((l) => l.msg === 'object failed')).toMatchObject({
      key: 'other/x.txt',
      code: 'KEY_OUTSIDE_INPUT',
    });
  });

  it('writes outputs with the requested metadata, tags, storage class and content type', async () => {
    await putObjects(s3.client, bucket.name, [{ key: 'opts/a.csv', body: 'a,b\n1,2\n' }]);
    const { result } = await runJob(s3.client, {
      input: `s3://${bucket.name}/opts/`,
      output: `s3://${out.name}/opts-out/`,
      metadata: { team: 'data' },
      tags: { env: 'test', owner: 'stream transform' },
      storageClass: 'REDUCED_REDUNDANCY',
    });
    expect(result.objects.done).toBe(1);
    const head = await s3.client.send(
      new HeadObjectCommand({ Bucket: out.name, Key: 'opts-out/a.csv' }),
    );
    expect(head.Metadata).toMatchObject({ team: 'data', 's3worker-source-key': 'opts%2Fa.csv' });
    expect(head.ContentType).toBe('text/csv; charset=utf-8');
    expect(head.ContentEncoding).toBeUndefined();
    expect(head.StorageClass).toBe('REDUCED_REDUNDANCY');
    const tagging = await s3.client.send(
      new GetObjectTaggingCommand({ Bucket: out.name, Key: 'opts-out/a.csv' }),
    );
    expect(Object.fromEntries((tagging.TagSet ?? []).map((t) => [t.Key, t.Value]))).toEqual({
      env: 'test',
      owner: 'stream transform',
    });
  });

  it('runs a subclass that uppercases lines with recordMap and filters by its own rule', async () => {
    class UppercaseJob extends ObjectTransformJob {
      static override readonly jobName = 'uppercase-lines';
      override filter(object: SourceObject): boolean {
        return !object.relKey.startsWith('ignored');
      }
      override transform() {
        return recordMap((line: string) => line.toUpperCase());
      }
    }
    await putObjects(s3.client, bucket.name, [
      { key: 'upper/a.txt', body: 'hello\nwörld\nno newline' },
      { key: 'upper/ignored.txt', body: 'x' },
    ]);
    const { result } = await runJob(
      s3.client,
      { input: `s3://${bucket.name}/upper/`, output: `s3://${out.name}/upper-out/` },
      { jobClass: UppercaseJob },
    );
    expect(result.objects.done).toBe(1);
    expect((await getBytes(s3.client, out.name, 'upper-out/a.txt')).toString()).toBe(
      'HELLO\nWÖRLD\nNO NEWLINE',
    );
    const head = await s3.client.send(
      new HeadObjectCommand({ Bucket: out.name, Key: 'upper-out/a.txt' }),
    );
    expect(head.Metadata?.['s3worker-transform']).toBe('uppercase-lines:identity');
  });

  it('on abort mid-upload leaves no incomplete multipart upload and reports an interruption', async () => {
    const abortOut = await createTestBucket(s3.client, 'st-abort');
    try {
      await putLargeObject(s3.client, bucket.name, 'abort/big.txt', 100 * MiB, 7);
      const { result } = await runJob(
        s3.client,
        {
          input: `s3://${bucket.name}/abort/`,
          output: `s3://${abortOut.name}/x/`,
          transform: ['gzip'],
          gzipLevel: 1,
        },
        {
          transfer: { partSize: 5 * MiB },
          onStart: (run) => {
            // Abort once the first parts are on their way: the multipart upload exists by then.
            const timer = setInterval(() => {
              if (run.progress.bytesOut > 12 * MiB) {
                clearInterval(timer);
                run.stop();
                run.abort();
              }
            }, 20);
            run.ctx.signal.addEventListener('abort', () => clearInterval(timer));
          },
        },
      );
      expect(result.interrupted).toBe(true);
      expect(result.objects).toMatchObject({ done: 0, skipped: 0, failed: 0 });
      expect(await incompleteUploads(s3.client, abortOut.name)).toBe(0);
      expect(await listKeys(s3.client, abortOut.name)).toEqual([]);
    } finally {
      await abortOut.remove();
    }
  });
});
