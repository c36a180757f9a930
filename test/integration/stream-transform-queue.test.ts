import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import {
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import {
  getBytes,
  incompleteUploads,
  listKeys,
  putObjects,
  sha256Of,
} from '../fixtures/stream-transform/harness.js';
import { type CliProcess, type CliResult, startCli, workerEnv } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';
import {
  createTestQueue,
  drainBodies,
  eventBridgeBody,
  queueCounts,
  s3EventBody,
  sendBodies,
  sqsClient,
  type TestQueue,
  testEventBody,
} from '../support/sqs.js';

const MiB = 1024 * 1024;
const servers = inject('servers');
const SLOW_JOB = 'test/fixtures/stream-transform/slow-copy-job.mjs';

let tmp: string;
let s3: S3Client;
let sqs: SQSClient;
let input: { name: string; remove: () => Promise<void> };
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  s3 = adminClient(servers.s3);
  sqs = sqsClient(servers.sqs);
  input = await createTestBucket(s3, 'st-queue-in');
});
afterAll(async () => {
  await input?.remove();
  s3?.destroy();
  sqs?.destroy();
});
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-st-queue-'));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

/** A queue and a versioned output bucket for one test, removed after it. */
async function setup(
  options: { visibilityTimeoutSeconds?: number; maxReceiveCount?: number } = {},
): Promise<{ queue: TestQueue; out: string }> {
  const queue = await createTestQueue(sqs, options);
  cleanups.push(queue.remove);
  const out = await createTestBucket(s3, 'st-queue-out');
  cleanups.push(out.remove);
  // Versioning keeps every write: an output written twice shows as two versions.
  await s3.send(
    new PutBucketVersioningCommand({
      Bucket: out.name,
      VersioningConfiguration: { Status: 'Enabled' },
    }),
  );
  return { queue, out: out.name };
}

/** Starts one worker on the queue; each gets its own scratch folder (status file). */
function worker(
  prefix: string,
  queue: TestQueue,
  out: string,
  extra: string[] = [],
  options: { handler?: string; env?: Record<string, string> } = {},
): CliProcess {
  const dir = join(tmp, `w-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir);
  const job = options.handler ? ['slow-copy', '--handler', options.handler] : ['stream-transform'];
  return startCli(
    [
      'run',
      ...job,
      '--input',
      `s3://${input.name}/${prefix}`,
      '--output',
      `s3://${out}/`,
      '--queue',
      queue.url,
      ...extra,
    ],
    { env: workerEnv(servers.s3, dir, options.env) },
  );
}

function summaryOf(r: CliResult): Record<string, unknown> & {
  objects: { done: number; skipped: number; failed: number };
  queue: Record<string, number>;
} {
  const line = r.logs.find((l) => l.msg === 'summary');
  if (!line) throw new Error(`no summary line; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return line as ReturnType<typeof summaryOf>;
}

/** The job's own last line ('stream-transform finished'). */
function finishedOf(r: CliResult): Record<string, unknown> {
  const line = r.logs.find((l) => l.msg === 'stream-transform finished');
  if (!line) throw new Error(`no finished line; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return line;
}

/** Number of versions of each key of a bucket. */
async function versionCounts(bucket: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (;;) {
    const page = await s3.send(
      new ListObjectVersionsCommand({
        Bucket: bucket,
        KeyMarker: keyMarker,
        VersionIdMarker: versionMarker,
      }),
    );
    for (const v of page.Versions ?? []) counts.set(v.Key!, (counts.get(v.Key!) ?? 0) + 1);
    if (!page.IsTruncated) return counts;
    keyMarker = page.NextKeyMarker;
    versionMarker = page.NextVersionIdMarker;
  }
}

/** Polls until `check` is true; bounded in count and time. */
async function until(check: () => Promise<boolean>, what: string, tries = 600): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Keys with spaces, plus signs, percent signs, unicode and nested folders. */
function trickyKey(prefix: string, i: number): string {
  const names = [
    `dir a/file ${i}.txt`,
    `plus+sign/${i}+1=2.txt`,
    `per%cent/${i} 100%25 done.txt`,
    `uni/été ☃ ${i} 日本.txt`,
    `deep/x/y/z/${i}.log`,
  ];
  return `${prefix}${names[i % names.length]}`;
}

describe('stream-transform --queue (S3 event notifications on SQS)', () => {
  it('three workers consume 2,000 S3 events for tricky keys: every output once, queue empty', async () => {
    const { queue, out } = await setup();
    const prefix = `many-${randomBytes(3).toString('hex')}/`;
    const objects = Array.from({ length: 2000 }, (_, i) => ({
      key: trickyKey(prefix, i),
      body: randomBytes(1024 + (i % 7) * 512),
    }));
    const hashes = await putObjects(s3, input.name, objects);
    // One or two records per message; `/` sent as-is in some and as %2F in others.
    const bodies: string[] = [];
    for (let i = 0; i < objects.length; ) {
      const n = i % 3 === 0 ? 2 : 1;
      bodies.push(
        s3EventBody(
          input.name,
          objects.slice(i, i + n).map((o, j) => ({
            key: o.key,
            body: o.body,
            encodeSlash: (i + j) % 2 === 0,
          })),
        ),
      );
      i += n;
    }
    await sendBodies(sqs, queue.url, bodies);

    const args = [
      '--concurrency',
      '4',
      '--exit-when-idle',
      '3s',
      '--queue-visibility-timeout',
      '10s',
    ];
    const runs = await Promise.all([0, 1, 2].map(() => worker(prefix, queue, out, args).done));
    for (const r of runs) expect(r.code, r.stderr).toBe(ExitCode.Success);
    const summaries = runs.map(summaryOf);
    const total = (f: (s: ReturnType<typeof summaryOf>) => number) =>
      summaries.reduce((n, s) => n + f(s), 0);
    expect(total((s) => s.objects.done)).toBe(objects.length);
    expect(total((s) => s.objects.failed)).toBe(0);
    expect(total((s) => s.queue.deleted ?? 0)).toBe(bodies.length);
    expect(total((s) => s.queue.poison ?? 0)).toBe(0);
    // Output keys are claimed only while in flight: none is held once the queue drained.
    expect(runs.map((r) => finishedOf(r).outputKeyClaims)).toEqual([0, 0, 0]);

    const versions = await versionCounts(out);
    expect(versions.size).toBe(objects.length);
    expect([...versions.values()].every((n) => n === 1)).toBe(true);
    for (const o of objects) {
      const outKey = o.key.slice(prefix.length);
      expect(await sha256Of(s3, out, outKey), outKey).toBe(hashes.get(o.key));
    }
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 0, inFlight: 0 });
  }, 300_000);

  it('EventBridge events are processed and the s3:TestEvent is deleted', async () => {
    const { queue, out } = await setup();
    const prefix = `eb-${randomBytes(3).toString('hex')}/`;
    const key = `${prefix}a b+c/ünï%20code.txt`;
    await putObjects(s3, input.name, [{ key, body: 'from eventbridge\n' }]);
    await sendBodies(sqs, queue.url, [
      testEventBody(input.name),
      eventBridgeBody(input.name, key, 'from eventbridge\n'),
    ]);
    const r = await worker(prefix, queue, out, ['--exit-when-idle', '2s']).done;
    expect(r.code, r.stderr).toBe(ExitCode.Success);
    expect((await getBytes(s3, out, 'a b+c/ünï%20code.txt')).toString()).toBe('from eventbridge\n');
    expect(summaryOf(r).queue).toMatchObject({ received: 2, deleted: 2, poison: 0 });
    expect(r.logs.find((l) => l.msg === 'queue message discarded')).toMatchObject({
      reason: 's3:TestEvent',
    });
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 0, inFlight: 0 });
    expect(await queueCounts(sqs, queue.dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('an event for an object deleted or replaced since is done with (skipped), not retried', async () => {
    const { queue, out } = await setup({ maxReceiveCount: 2 });
    const prefix = `gone-${randomBytes(3).toString('hex')}/`;
    const first = 'first version\n';
    const second = 'second version\n';
    await putObjects(s3, input.name, [{ key: `${prefix}replaced.txt`, body: second }]);
    await sendBodies(sqs, queue.url, [
      // The event of a version replaced since (its ETag no longer matches), then the new one's.
      s3EventBody(input.name, [{ key: `${prefix}replaced.txt`, body: first }]),
      s3EventBody(input.name, [{ key: `${prefix}replaced.txt`, body: second }]),
      // An object deleted before its event was read.
      s3EventBody(input.name, [{ key: `${prefix}deleted.txt`, body: 'gone\n' }]),
    ]);
    const r = await worker(prefix, queue, out, ['--exit-when-idle', '2s', '--concurrency', '1'])
      .done;
    expect(r.code, r.stderr).toBe(ExitCode.Success);
    expect(summaryOf(r).objects).toMatchObject({ listed: 3, done: 1, skipped: 2, failed: 0 });
    expect(summaryOf(r).queue).toMatchObject({ received: 3, deleted: 3 });
    expect((await getBytes(s3, out, 'replaced.txt')).toString()).toBe(second);
    expect(await listKeys(s3, out)).toEqual(['replaced.txt']);
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 0, inFlight: 0 });
    expect(await queueCounts(sqs, queue.dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('a poison message and an event for a corrupt gzip end in the DLQ after maxReceiveCount; the rest is done', async () => {
    const { queue, out } = await setup({ maxReceiveCount: 2 });
    const prefix = `poison-${randomBytes(3).toString('hex')}/`;
    const goodBody = gzipSync('good\n');
    const brokenBody = Buffer.from('\x1f\x8bthis is not deflate');
    await putObjects(s3, input.name, [
      { key: `${prefix}good.txt.gz`, body: goodBody },
      { key: `${prefix}broken.txt.gz`, body: brokenBody },
    ]);
    const removed = JSON.parse(
      s3EventBody(input.name, [{ key: `${prefix}good.txt.gz`, body: goodBody }]),
    );
    removed.Records[0].eventName = 'ObjectRemoved:Delete';
    // Not an event, another event type, and an object outside the input bucket (misrouted).
    const poison = [
      'this is not an event',
      JSON.stringify(removed),
      s3EventBody('another-bucket', [{ key: `${prefix}good.txt.gz`, body: goodBody }]),
    ];
    const corrupt = s3EventBody(input.name, [{ key: `${prefix}broken.txt.gz`, body: brokenBody }]);
    const good = s3EventBody(input.name, [{ key: `${prefix}good.txt.gz`, body: goodBody }]);
    await sendBodies(sqs, queue.url, [...poison, corrupt, good]);

    const r = await worker(prefix, queue, out, [
      '--transform',
      'gunzip',
      '--queue-visibility-timeout',
      '1s',
      '--exit-when-idle',
      '4s',
    ]).done;
    // The corrupt object failed (twice): the run says so.
    expect(r.code, r.stderr).toBe(ExitCode.ObjectsFailed);
    expect((await getBytes(s3, out, 'good.txt')).toString()).toBe('good\n');
    const s = summaryOf(r);
    expect(s.objects).toMatchObject({ done: 1, failed: 2 });
    expect(s.queue).toMatchObject({ poison: 6, failed: 2, deleted: 1 });
    const poisoned = r.logs.filter((l) => l.msg === 'poison message: left for the redrive policy');
    expect(poisoned).toHaveLength(6);
    expect(poisoned.map((l) => l.reason)).toContainEqual(
      `names an object in bucket another-bucket, not the input bucket ${input.name}`,
    );
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 0, inFlight: 0 });
    expect((await drainBodies(sqs, queue.dlqUrl)).sort()).toEqual([...poison, corrupt].sort());
  }, 120_000);

  it('two sources mapping to one output key at different times: the later is refused as a collision, never written over the first', async () => {
    const { queue, out } = await setup({ visibilityTimeoutSeconds: 120 });
    const prefix = `collide-${randomBytes(3).toString('hex')}/`;
    const first = { key: `${prefix}a.csv`, body: 'first source\n' };
    const second = { key: `${prefix}a.tsv`, body: 'second source\n' };
    await putObjects(s3, input.name, [first, second]);
    // Both map to a.txt. The output prefix is empty at start, so the later one meets the first's
    // output at its conditional write (If-None-Match), not at a check before it.
    const run = worker(prefix, queue, out, [
      '--key-template',
      '{dir}/{name}.txt',
      '--exit-when-idle',
      '5s',
    ]);
    await sendBodies(sqs, queue.url, [s3EventBody(input.name, [first])]);
    await until(async () => (await listKeys(s3, out)).includes('a.txt'), 'the first output');
    await sendBodies(sqs, queue.url, [s3EventBody(input.name, [second])]);
    const r = await run.done;
    expect(r.code, r.stderr).toBe(ExitCode.ObjectsFailed);
    const failed = r.logs.filter((l) => l.msg === 'object failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      key: second.key,
      outputKey: 'a.txt',
      code: 'OUTPUT_KEY_COLLISION',
    });
    expect(String((failed[0]!.err as { message?: string }).message)).toContain(first.key);
    expect(summaryOf(r).objects).toMatchObject({ done: 1, failed: 1 });
    expect(summaryOf(r).queue).toMatchObject({ received: 2, deleted: 1, failed: 1 });
    // The first's output, written once; the refused message is left for redelivery.
    expect((await versionCounts(out)).get('a.txt')).toBe(1);
    expect((await getBytes(s3, out, 'a.txt')).toString()).toBe(first.body);
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 0, inFlight: 1 });
    // The first's claim was released when it settled, the second's when it failed.
    expect(finishedOf(r).outputKeyClaims).toBe(0);
  }, 120_000);

  it('stops at start with the missing-resource exit code when the queue does not exist', async () => {
    const { queue, out } = await setup();
    const missing = { ...queue, url: `${queue.url}-missing` };
    const r = await worker('none/', missing, out, ['--exit-when-idle', '1s']).done;
    expect(r.code, r.stderr).toBe(ExitCode.NoSuchBucket);
    expect(r.logs.find((l) => l.code === 'QUEUE_NOT_FOUND')?.msg).toContain(missing.url);
  });

  it('an object slower than the visibility timeout is processed once, thanks to the heartbeat', async () => {
    const { queue, out } = await setup({ visibilityTimeoutSeconds: 2 });
    const prefix = `slow-${randomBytes(3).toString('hex')}/`;
    const body = randomBytes(4096);
    await putObjects(s3, input.name, [{ key: `${prefix}slow.bin`, body }]);
    await sendBodies(sqs, queue.url, [
      s3EventBody(input.name, [{ key: `${prefix}slow.bin`, body }]),
    ]);
    const slow = { handler: SLOW_JOB, env: { SLOW_DELAY_MS: '6000' } };
    const first = worker(prefix, queue, out, ['--exit-when-idle', '3s'], slow);
    await until(async () => (await queueCounts(sqs, queue.url)).inFlight === 1, 'the receive');
    // A second worker polls all along: without the heartbeat it would get the message at 2 s.
    const second = worker(prefix, queue, out, ['--exit-when-idle', '9s'], slow);
    const [a, b] = await Promise.all([first.done, second.done]);
    expect(a.code, a.stderr).toBe(ExitCode.Success);
    expect(b.code, b.stderr).toBe(ExitCode.Success);
    expect(summaryOf(a).queue).toMatchObject({ received: 1, deleted: 1 });
    expect(summaryOf(b).queue).toMatchObject({ received: 0 });
    expect(summaryOf(a).objects).toMatchObject({ listed: 1, done: 1, skipped: 0, failed: 0 });
    expect(await versionCounts(out)).toEqual(new Map([['slow.bin', 1]]));
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 0, inFlight: 0 });
  }, 120_000);

  it('on SIGTERM with messages in flight: unfinished ones are visible again at once, uploads aborted, exit 4', async () => {
    // A long visibility timeout: only the hand-back can make them visible again soon.
    const { queue, out } = await setup({ visibilityTimeoutSeconds: 120 });
    const prefix = `term-${randomBytes(3).toString('hex')}/`;
    const objects = Array.from({ length: 6 }, (_, i) => ({
      key: `${prefix}big-${i}.bin`,
      body: randomBytes(8 * MiB),
    }));
    const keys = objects.map((o) => o.key);
    await putObjects(s3, input.name, objects, 3);
    await sendBodies(
      sqs,
      queue.url,
      objects.map((o) => s3EventBody(input.name, [o])),
    );
    // Each copy pauses after its first part is uploaded: multipart uploads stay in flight.
    const run = worker(
      prefix,
      queue,
      out,
      ['--concurrency', '2', '--part-size', '5MiB', '--drain-timeout', '1s'],
      { handler: SLOW_JOB, env: { SLOW_DELAY_MS: '120000', SLOW_AFTER_BYTES: String(6 * MiB) } },
    );
    await until(async () => (await incompleteUploads(s3, out)) >= 1, 'a multipart upload', 1200);
    expect((await queueCounts(sqs, queue.url)).inFlight).toBeGreaterThan(0);
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(ExitCode.Interrupted);
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: keys.length, inFlight: 0 });
    expect(await incompleteUploads(s3, out)).toBe(0);
    expect(await listKeys(s3, out)).toEqual([]);
    expect(summaryOf(r).queue).toMatchObject({ deleted: 0, returned: summaryOf(r).queue.received });
  }, 180_000);

  it('on SIGTERM while idle, the long poll in flight is not abandoned: a message arriving then stays visible', async () => {
    const { queue, out } = await setup({ visibilityTimeoutSeconds: 120 });
    const prefix = `idle-${randomBytes(3).toString('hex')}/`;
    const run = worker(prefix, queue, out, [], { env: { S3WORKER_LOG_LEVEL: 'debug' } });
    // Logged as the first long poll is sent on the empty queue.
    await run.waitForLog('waiting for messages');
    run.child.kill('SIGTERM');
    // Sent once the worker has taken the stop in (on a busy machine the signal can be handled
    // after a message sent right away already came back as work): only the poll still in
    // flight can receive it now. SQS would hand it to a poll the worker had cut off, and hide it
    // for 120 s.
    await run.waitForLog('stop requested: finishing in-flight work');
    await sendBodies(sqs, queue.url, [
      s3EventBody(input.name, [{ key: `${prefix}late.txt`, body: 'x' }]),
    ]);
    const r = await run.done;
    expect(r.code, r.stderr).toBe(ExitCode.Interrupted);
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 1, inFlight: 0 });
    expect(await listKeys(s3, out)).toEqual([]);
  });

  it('kill -9 one of three workers: its messages come back and are finished by the others, nothing written twice', async () => {
    const { queue, out } = await setup({ visibilityTimeoutSeconds: 4 });
    const prefix = `kill-${randomBytes(3).toString('hex')}/`;
    const small = Array.from({ length: 90 }, (_, i) => ({
      key: `${prefix}small-${String(i).padStart(3, '0')}.bin`,
      body: randomBytes(2048),
    }));
    const large = Array.from({ length: 3 }, (_, i) => ({
      key: `${prefix}large-${i}.bin`,
      body: randomBytes(7 * MiB),
    }));
    const objects = [...large, ...small];
    const hashes = await putObjects(s3, input.name, objects, 8);
    await sendBodies(
      sqs,
      queue.url,
      objects.map((o) => s3EventBody(input.name, [o])),
    );
    // Every object takes 300 ms, so the run lasts long enough to kill one worker mid-way; the
    // survivors wait longer than the visibility timeout for the killed one's messages.
    const slow = { handler: SLOW_JOB, env: { SLOW_DELAY_MS: '300' } };
    const args = ['--concurrency', '3', '--part-size', '5MiB', '--exit-when-idle', '8s'];
    const workers = [0, 1, 2].map(() => worker(prefix, queue, out, args, slow));
    await until(async () => (await listKeys(s3, out)).length >= 15, 'the first outputs');
    workers[0]!.child.kill('SIGKILL');
    const [killed, ...survivors] = await Promise.all(workers.map((w) => w.done));
    expect(killed!.signal).toBe('SIGKILL');
    for (const r of survivors) expect(r.code, r.stderr).toBe(ExitCode.Success);

    const versions = await versionCounts(out);
    expect(versions.size).toBe(objects.length);
    expect([...versions.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    for (const o of objects) {
      const outKey = o.key.slice(prefix.length);
      expect(await sha256Of(s3, out, outKey), outKey).toBe(hashes.get(o.key));
    }
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 0, inFlight: 0 });
    expect(await queueCounts(sqs, queue.dlqUrl)).toEqual({ visible: 0, inFlight: 0 });

    // The start sweep of the next task aborts what the killed one left.
    const sweeper = await worker(prefix, queue, out, [
      '--sweep-age',
      '1ms',
      '--exit-when-idle',
      '1s',
    ]).done;
    expect(sweeper.code, sweeper.stderr).toBe(ExitCode.Success);
    expect(await incompleteUploads(s3, out)).toBe(0);
  }, 300_000);
});
