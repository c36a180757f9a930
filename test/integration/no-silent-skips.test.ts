import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { JobResult } from '../../src/jobs/job.js';
import type { TransformSpec } from '../../src/jobs/kit/transforms.js';
import { ObjectTransformJob } from '../../src/jobs/stream-transform/object-transform-job.js';
import type { SourceObject } from '../../src/jobs/stream-transform/source-object.js';
import {
  type CountingClient,
  countingClient,
  getBytes,
  listKeys,
  putObjects,
  runJob,
} from '../fixtures/stream-transform/harness.js';
import { createTestBucket } from '../support/s3.js';

/** Every listed input ends as done, skipped or failed: the summary's counts add up. */
function expectAllCounted(result: JobResult, listed: number): void {
  const { done, skipped, failed } = result.objects;
  expect(result.objects.listed).toBe(listed);
  expect(done + skipped + failed).toBe(listed);
  const reasons = Object.values(result.skippedBy ?? {}).reduce((a, b) => a + b, 0);
  expect(reasons).toBe(skipped);
}

describe('stream-transform never drops an input silently', { timeout: 300_000 }, () => {
  const servers = inject('servers');
  let s3: CountingClient;
  let bucket: { name: string; remove: () => Promise<void> };

  beforeAll(async () => {
    s3 = countingClient(servers.s3);
    bucket = await createTestBucket(s3.client, 'nss');
  });

  afterAll(async () => {
    await bucket?.remove();
    s3?.client.destroy();
  });

  it('compares the nested output prefix on a / boundary: in/outgoing.csv is an input, in/out/… is not', async () => {
    await putObjects(s3.client, bucket.name, [
      { key: 'bound/in/a.txt', body: 'a' },
      { key: 'bound/in/outgoing.csv', body: 'b' },
      { key: 'bound/in/output-2024/x.csv', body: 'c' },
      { key: 'bound/in/out/earlier-output.txt', body: 'd' },
    ]);
    const { result } = await runJob(s3.client, {
      input: `s3://${bucket.name}/bound/in/`,
      output: `s3://${bucket.name}/bound/in/out`,
    });
    expect(result.objects).toMatchObject({ done: 3, failed: 0, skipped: 1 });
    expect(result.skippedBy).toEqual({ 'own-output': 1 });
    expectAllCounted(result, 4);
    expect((await listKeys(s3.client, bucket.name, 'bound/in/out/')).sort()).toEqual([
      'bound/in/out/a.txt',
      'bound/in/out/earlier-output.txt',
      'bound/in/out/outgoing.csv',
      'bound/in/out/output-2024/x.csv',
    ]);
  });

  it('counts filtered keys and other shards as skipped with a reason', async () => {
    await putObjects(
      s3.client,
      bucket.name,
      Array.from({ length: 12 }, (_, i) => ({
        key: `counted/${i}.${i % 3 === 0 ? 'log' : 'txt'}`,
        body: `${i}`,
      })),
    );
    const { result } = await runJob(s3.client, {
      input: `s3://${bucket.name}/counted/`,
      output: `s3://${bucket.name}/counted-out/`,
      exclude: ['*.log'],
      shard: '0/2',
    });
    expectAllCounted(result, 12);
    expect(result.skippedBy?.filtered ?? 0).toBeGreaterThan(0);
    expect(result.skippedBy?.['other-shard'] ?? 0).toBeGreaterThan(0);
  });

  it('sweeps stale uploads below the output folder only: output `sw` leaves `swift/`', async () => {
    for (const key of ['sw/left-by-a-killed-task', 'swift/someone-elses']) {
      await s3.client.send(new CreateMultipartUploadCommand({ Bucket: bucket.name, Key: key }));
    }
    await putObjects(s3.client, bucket.name, [{ key: 'sweep-src/a.txt', body: 'a' }]);
    // Past any rounding of the server's Initiated time to whole seconds.
    await sleep(1100);
    await runJob(s3.client, {
      input: `s3://${bucket.name}/sweep-src/`,
      output: `s3://${bucket.name}/sw`,
      sweepAge: '10ms',
    });
    const left = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: bucket.name }));
    expect((left.Uploads ?? []).map((u) => u.Key)).toEqual(['swift/someone-elses']);
  });

  it('never lets two inputs write one output: the first claims it, the others fail, on every re-run', async () => {
    await putObjects(s3.client, bucket.name, [
      // A prefix without a slash lists logs2/ too: both map to the relative key logs2/a.txt.
      { key: 'col/logs/logs2/a.txt', body: 'first' },
      { key: 'col/logs2/a.txt', body: 'second' },
    ]);
    const config = {
      input: `s3://${bucket.name}/col/logs`,
      output: `s3://${bucket.name}/col-out/`,
      overwrite: true,
    };
    for (const attempt of [1, 2]) {
      const { result, run } = await runJob(s3.client, config);
      expect(result.objects).toMatchObject({ done: attempt === 1 ? 1 : 0, failed: 1 });
      expectAllCounted(result, 2);
      const failed = run.logs.find((l) => l.msg === 'object failed');
      expect(failed).toMatchObject({ key: 'col/logs2/a.txt', code: 'OUTPUT_KEY_COLLISION' });
      expect((await getBytes(s3.client, bucket.name, 'col-out/logs2/a.txt')).toString()).toBe(
        'first',
      );
    }
  });

  it('refuses to overwrite an output recorded from another source key, even with --overwrite', async () => {
    await putObjects(s3.client, bucket.name, [
      { key: 'tpl/a.csv', body: 'csv' },
      { key: 'tpl2/a.tsv', body: 'tsv' },
    ]);
    const template = { keyTemplate: '{name}.out', overwrite: true };
    const output = `s3://${bucket.name}/tpl-out/`;
    const first = await runJob(s3.client, {
      input: `s3://${bucket.name}/tpl/`,
      output,
      ...template,
    });
    expect(first.result.objects).toMatchObject({ done: 1, failed: 0 });
    const second = await runJob(s3.client, {
      input: `s3://${bucket.name}/tpl2/`,
      output,
      ...template,
    });
    expect(second.result.objects).toMatchObject({ done: 0, failed: 1 });
    expect(second.run.logs.find((l) => l.msg === 'object failed')).toMatchObject({
      code: 'OUTPUT_KEY_COLLISION',
    });
    expect((await getBytes(s3.client, bucket.name, 'tpl-out/a.out')).toString()).toBe('csv');
  });

  it('refuses two inputs for one output listed far apart (more objects between them than in flight): S3 tells, not memory', async () => {
    // x.csv and x.tsv both map to x.out, with 40 objects between them and 2 in flight: the
    // first one's claim was released long before the second starts, so only what S3 holds (the
    // refused If-None-Match write, or the HeadObject before the write, and the source recorded
    // on the output) can refuse the second.
    const between = Array.from({ length: 40 }, (_, i) => ({
      key: `far/m/${String(i).padStart(4, '0')}.txt`,
      body: `${i}`,
    }));
    await putObjects(s3.client, bucket.name, [
      { key: 'far/a/x.csv', body: 'first' },
      ...between,
      { key: 'far/z/x.tsv', body: 'second' },
    ]);
    const base = { input: `s3://${bucket.name}/far/`, keyTemplate: '{name}.out', concurrency: 2 };
    const expectRefused = (run: Awaited<ReturnType<typeof runJob>>['run']) => {
      const failed = run.logs.filter((l) => l.msg === 'object failed');
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ key: 'far/z/x.tsv', code: 'OUTPUT_KEY_COLLISION' });
      expect(String((failed[0]!.err as { message?: string }).message)).toContain('far/a/x.csv');
      // Every claim was given back: nothing is kept per object done.
      expect(run.logs.find((l) => l.msg === 'stream-transform finished')).toMatchObject({
        outputKeyClaims: 0,
      });
    };
    const cases = [
      // An empty output prefix: no HeadObject, the second write is refused by If-None-Match.
      { what: 'first run', output: 'far-out/', done: 41, skipped: 0 },
      // The same again: the HeadObject before each write finds the first input's output.
      { what: 're-run', output: 'far-out/', done: 0, skipped: 41 },
      // --overwrite replaces outputs of the same source only; the recorded source still refuses.
      { what: 'overwrite', output: 'far-ow/', done: 41, skipped: 0, overwrite: true },
    ];
    for (const { what, output, done, skipped, overwrite } of cases) {
      const { result, run } = await runJob(s3.client, {
        ...base,
        output: `s3://${bucket.name}/${output}`,
        ...(overwrite ? { overwrite } : {}),
      });
      expect({ what, ...result.objects }).toMatchObject({ what, done, skipped, failed: 1 });
      expectAllCounted(result, 42);
      expectRefused(run);
      expect((await getBytes(s3.client, bucket.name, `${output}x.out`)).toString()).toBe('first');
    }
    // A dry run writes nothing S3 could refuse with: it keeps its claims and still reports it.
    const dry = await runJob(s3.client, {
      ...base,
      output: `s3://${bucket.name}/far-dry/`,
      dryRun: true,
    });
    expect(dry.result.objects).toMatchObject({ done: 41, failed: 1 });
    const failed = dry.run.logs.filter((l) => l.msg === 'object failed');
    expect(failed.map((l) => [l.key, l.code])).toEqual([['far/z/x.tsv', 'OUTPUT_KEY_COLLISION']]);
    expect(await listKeys(s3.client, bucket.name, 'far-dry/')).toEqual([]);
  });

  it('with --overwrite, an output another input wrote after the check is not written over (If-None-Match on a key found empty)', async () => {
    await putObjects(s3.client, bucket.name, [{ key: 'race/a.txt', body: 'ours' }]);
    const client = s3.client;
    const target = bucket.name;
    // Another task writes the output from its own source between our HeadObject (nothing
    // there) and our write: the job's transform hook runs in that window.
    class Raced extends ObjectTransformJob {
      static override readonly jobName = 'stream-transform';
      override async transform(object: SourceObject): Promise<TransformSpec> {
        await client.send(
          new PutObjectCommand({
            Bucket: target,
            Key: 'race-out/a.txt',
            Body: 'theirs',
            Metadata: { 's3worker-source-bucket': target, 's3worker-source-key': 'race/b.txt' },
          }),
        );
        return super.transform(object);
      }
    }
    const { result, run } = await runJob(
      s3.client,
      {
        input: `s3://${bucket.name}/race/`,
        output: `s3://${bucket.name}/race-out/`,
        overwrite: true,
      },
      { jobClass: Raced },
    );
    expect(result.objects).toMatchObject({ done: 0, failed: 1 });
    expect(run.logs.find((l) => l.msg === 'object failed')).toMatchObject({
      key: 'race/a.txt',
      code: 'OUTPUT_KEY_COLLISION',
    });
    expect((await getBytes(s3.client, bucket.name, 'race-out/a.txt')).toString()).toBe('theirs');
  });

  it('rewrites an output when any output-affecting setting or the handler version changed', async () => {
    await putObjects(s3.client, bucket.name, [{ key: 'fp/a.txt', body: 'x'.repeat(5000) }]);
    const base = {
      input: `s3://${bucket.name}/fp/`,
      output: `s3://${bucket.name}/fp-out/`,
      transform: ['gzip' as const],
      overwrite: true,
    };
    const first = await runJob(s3.client, base);
    expect(first.result.objects).toMatchObject({ done: 1 });
    const same = await runJob(s3.client, base);
    expect(same.result.objects).toMatchObject({ done: 0, skipped: 1 });
    class V2 extends ObjectTransformJob {
      static override readonly jobName = 'stream-transform';
      override handlerVersion(): string {
        return '2';
      }
    }
    const changes: Array<[string, Parameters<typeof runJob>[1], Parameters<typeof runJob>[2]]> = [
      ['gzip level', { ...base, gzipLevel: 1 }, {}],
      ['metadata', { ...base, metadata: { team: 'b' } }, {}],
      ['tags', { ...base, tags: { team: 'b' } }, {}],
      ['storage class', { ...base, storageClass: 'REDUCED_REDUNDANCY' }, {}],
      ['content type', { ...base, contentType: 'text/plain' }, {}],
      ['handler version', base, { jobClass: V2 }],
    ];
    for (const [what, config, options] of changes) {
      const rerun = await runJob(s3.client, config, options);
      expect({ what, ...rerun.result.objects }).toMatchObject({ what, done: 1, skipped: 0 });
      // And unchanged again: skipped.
      const again = await runJob(s3.client, config, options);
      expect({ what, ...again.result.objects }).toMatchObject({ what, done: 0, skipped: 1 });
    }
    const head = await s3.client.send(
      new HeadObjectCommand({ Bucket: bucket.name, Key: 'fp-out/a.txt.gz' }),
    );
    expect(head.Metadata?.['s3worker-fingerprint']).toMatch(/^[\w-]{22}$/);
  });

  it('records a 1,024-byte source key within the 2 KB metadata limit, and resumes it', async () => {
    // 'é' is 2 bytes in UTF-8 and 6 characters percent-encoded: the key alone would take 3 KB.
    // (MinIO keeps each segment within a file name's 255 bytes.)
    const name = `${Array.from({ length: 5 }, () => 'é'.repeat(100)).join('/')}/abcdefghijkl.txt`;
    const key = `lk/${name}`;
    expect(Buffer.byteLength(key)).toBe(1024);
    await putObjects(s3.client, bucket.name, [{ key, body: 'long' }]);
    const config = {
      input: `s3://${bucket.name}/lk/`,
      output: `s3://${bucket.name}/lo/`,
      metadata: { team: 'data' },
    };
    const first = await runJob(s3.client, config);
    expect(first.result.objects).toMatchObject({ done: 1, failed: 0 });
    const head = await s3.client.send(
      new HeadObjectCommand({ Bucket: bucket.name, Key: `lo/${name}` }),
    );
    const bytes = Object.entries(head.Metadata ?? {}).reduce(
      (n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v),
      0,
    );
    expect(bytes).toBeLessThanOrEqual(2048);
    expect(head.Metadata?.team).toBe('data');
    const again = await runJob(s3.client, config);
    expect(again.result.objects).toMatchObject({ done: 0, skipped: 1, failed: 0 });
  });
});
