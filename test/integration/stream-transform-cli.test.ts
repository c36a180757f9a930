import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import {
  getBytes,
  incompleteUploads,
  listKeys,
  putLargeObject,
  putObjects,
  sha256Of,
} from '../fixtures/stream-transform/harness.js';
import { runCli, startCli, workerEnv } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';

const MiB = 1024 * 1024;
const server = inject('servers').s3;
let tmp: string;
let s3: S3Client;
let bucket: { name: string; remove: () => Promise<void> };

beforeAll(async () => {
  s3 = adminClient(server);
  bucket = await createTestBucket(s3, 'st-cli');
});
afterAll(async () => {
  await bucket?.remove();
  s3?.destroy();
});
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-st-cli-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const env = () => workerEnv(server, tmp);

/** `run stream-transform --input … --output … ...extra` as an argument array. */
function transformArgs(input: string, output: string, extra: string[] = []): string[] {
  return ['run', 'stream-transform', '--input', input, '--output', output, ...extra];
}

/** Polls until `check` is true; bounded in count and time. */
async function until(
  check: () => Promise<boolean>,
  what: string,
  tries = 600,
  everyMs = 100,
): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('stream-transform through the CLI', () => {
  it('exits with ObjectsFailed when an input is a corrupt gzip, and writes the others', async () => {
    await putObjects(s3, bucket.name, [
      { key: 'corrupt/ok-1.gz', body: gzipSync('one\n') },
      { key: 'corrupt/ok-2.gz', body: gzipSync('two\n') },
      { key: 'corrupt/broken.gz', body: Buffer.from('\x1f\x8bthis is not deflate') },
    ]);
    const report = join(tmp, 'failures.json');
    const r = await runCli(
      transformArgs(`s3://${bucket.name}/corrupt/`, `s3://${bucket.name}/corrupt-out/`, [
        '--transform',
        'gunzip',
        '--failure-report',
        report,
      ]),
      { env: env() },
    );
    expect(r.code).toBe(ExitCode.ObjectsFailed);
    expect(r.logs.find((l) => l.msg === 'summary')?.objects).toMatchObject({
      done: 2,
      skipped: 0,
      failed: 1,
    });
    expect((await getBytes(s3, bucket.name, 'corrupt-out/ok-2')).toString()).toBe('two\n');
    expect(r.logs.find((l) => l.msg === 'object failed')).toMatchObject({
      key: 'corrupt/broken.gz',
    });
  });

  it('loads a subclass of ObjectTransformJob with --handler and runs it', async () => {
    await putObjects(s3, bucket.name, [{ key: 'upper/a.txt', body: 'first line\nsecond line\n' }]);
    const r = await runCli(
      [
        'run',
        'uppercase-lines',
        '--handler',
        'test/fixtures/stream-transform/uppercase-lines-job.mjs',
        '--input',
        `s3://${bucket.name}/upper/`,
        '--output',
        `s3://${bucket.name}/upper-out/`,
      ],
      { env: env() },
    );
    expect(r.code).toBe(ExitCode.Success);
    expect((await getBytes(s3, bucket.name, 'upper-out/a.txt')).toString()).toBe(
      'FIRST LINE\nSECOND LINE\n',
    );
  });

  it('after kill -9 mid-run, running again completes without re-uploading finished objects', async () => {
    const count = 200;
    const hashes = await putObjects(
      s3,
      bucket.name,
      Array.from({ length: count }, (_, i) => ({
        key: `kill/o-${String(i).padStart(4, '0')}`,
        body: Buffer.alloc(32 * 1024, i),
      })),
    );
    const args = transformArgs(`s3://${bucket.name}/kill/`, `s3://${bucket.name}/kill-out/`, [
      '--concurrency',
      '2',
    ]);
    const first = startCli(args, { env: env() });
    // Kill once some outputs exist but (at concurrency 2) far from all of them.
    await until(
      async () => (await listKeys(s3, bucket.name, 'kill-out/')).length >= 20,
      'the first outputs',
    );
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');

    const before = await lastModified(s3, bucket.name, 'kill-out/');
    expect(before.size).toBeGreaterThanOrEqual(20);
    expect(before.size).toBeLessThan(count);
    // LastModified has one-second resolution: a rewrite after this pause would show.
    await sleep(1100);

    const second = await runCli(args, { env: env() });
    expect(second.code).toBe(ExitCode.Success);
    const summary = second.logs.find((l) => l.msg === 'summary');
    expect(summary?.objects).toMatchObject({
      done: count - before.size,
      skipped: before.size,
      failed: 0,
    });
    const after = await lastModified(s3, bucket.name, 'kill-out/');
    expect(after.size).toBe(count);
    for (const [key, time] of before) expect(after.get(key)).toBe(time);
    for (const [key, hash] of hashes) {
      expect(await sha256Of(s3, bucket.name, key.replace('kill/', 'kill-out/'))).toBe(hash);
    }
  }, 300_000);

  it('on SIGTERM with 100 MiB objects in flight: drains, aborts their uploads and exits Interrupted', async () => {
    const out = await createTestBucket(s3, 'st-term');
    try {
      await Promise.all(
        [0, 1].map((i) => putLargeObject(s3, bucket.name, `term/big-${i}.log`, 100 * MiB, 40 + i)),
      );
      const run = startCli(
        transformArgs(`s3://${bucket.name}/term/`, `s3://${out.name}/x/`, [
          '--transform',
          'gzip',
          '--part-size',
          '5MiB',
          '--drain-timeout',
          '1s',
        ]),
        { env: env() },
      );
      await until(
        async () => (await incompleteUploads(s3, out.name)) >= 1,
        'a multipart upload in flight',
        1200,
      );
      run.child.kill('SIGTERM');
      const r = await run.done;
      expect(r.code).toBe(ExitCode.Interrupted);
      expect(await incompleteUploads(s3, out.name)).toBe(0);
      expect(await listKeys(s3, out.name)).toEqual([]);
      expect(r.logs.find((l) => l.msg === 'summary')?.objects).toMatchObject({ done: 0 });
    } finally {
      await out.remove();
    }
  }, 300_000);
});

async function lastModified(
  client: S3Client,
  bucket: string,
  prefix: string,
): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) times.set(o.Key!, o.LastModified!.getTime());
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return times;
}
