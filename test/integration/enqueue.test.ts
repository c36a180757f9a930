import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import {
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { parseS3EventMessage } from '../../src/jobs/kit/queue/s3-event-message.js';
import { putObjects } from '../fixtures/stream-transform/harness.js';
import { type CliProcess, type CliResult, startCli, workerEnv } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';
import {
  createTestQueue,
  drainBodies,
  queueCounts,
  sqsClient,
  type TestQueue,
} from '../support/sqs.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

const servers = inject('servers');

let tmp: string;
let s3: S3Client;
let sqs: SQSClient;
let input: { name: string; remove: () => Promise<void> };
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  s3 = adminClient(servers.s3);
  sqs = sqsClient(servers.sqs);
  input = await createTestBucket(s3, 'enqueue-in');
});
afterAll(async () => {
  await input?.remove();
  s3?.destroy();
  sqs?.destroy();
});
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-enqueue-'));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

/** A queue (with its DLQ) and a versioned output bucket for one test, removed after it. */
async function setup(): Promise<{ queue: TestQueue; out: string }> {
  const queue = await createTestQueue(sqs, { visibilityTimeoutSeconds: 30, maxReceiveCount: 5 });
  cleanups.push(queue.remove);
  // Versioning keeps every write: an output written twice shows as two versions.
  const out = await versionedBucket('enqueue-out');
  return { queue, out };
}

/** A bucket with versioning on, removed after the test; its name. */
async function versionedBucket(prefix: string): Promise<string> {
  const bucket = await createTestBucket(s3, prefix);
  cleanups.push(bucket.remove);
  await s3.send(
    new PutBucketVersioningCommand({
      Bucket: bucket.name,
      VersioningConfiguration: { Status: 'Enabled' },
    }),
  );
  return bucket.name;
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

/** `count` small objects with tricky keys under a fresh prefix; their ETags by key. */
async function arrange(count: number): Promise<{ prefix: string; keys: string[] }> {
  const prefix = `src-${randomBytes(3).toString('hex')}/`;
  const objects = Array.from({ length: count }, (_, i) => ({
    key: trickyKey(prefix, i),
    body: `object ${i} ${randomBytes(8).toString('hex')}\n`,
  }));
  await putObjects(s3, input.name, objects, 64);
  return { prefix, keys: objects.map((o) => o.key) };
}

function env(extra: Record<string, string> = {}): Record<string, string> {
  const dir = join(tmp, `p-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir);
  return workerEnv(servers.s3, dir, { S3WORKER_LOG_FORMAT: 'json', ...extra });
}

/** Three queue-mode workers (the CLI) that drain the queue into `out` and exit when idle. */
async function drain(prefix: string, queue: TestQueue, out: string): Promise<CliResult[]> {
  const workers = [0, 1, 2].map(
    () =>
      startCli(
        [
          'run',
          'stream-transform',
          '--input',
          `s3://${input.name}/${prefix}`,
          '--output',
          `s3://${out}/`,
          '--queue',
          queue.url,
          '--concurrency',
          '8',
          '--exit-when-idle',
          '3s',
        ],
        { env: env() },
      ).done,
  );
  const runs = await Promise.all(workers);
  for (const r of runs) expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(ExitCode.Success);
  return runs;
}

function summaryOf(r: CliResult): Record<string, unknown> & {
  objects: { done: number; skipped: number; failed: number; listed?: number };
  queue: Record<string, number>;
} {
  const line = r.logs.find((l) => l.msg === 'summary');
  if (!line) throw new Error(`no summary line; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return line as ReturnType<typeof summaryOf>;
}

/** Versions and ETag of each key of a bucket. */
async function versions(bucket: string): Promise<Map<string, { count: number; etag: string }>> {
  const found = new Map<string, { count: number; etag: string }>();
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
    for (const v of page.Versions ?? []) {
      const seen = found.get(v.Key!);
      found.set(v.Key!, { count: (seen?.count ?? 0) + 1, etag: v.ETag! });
    }
    if (!page.IsTruncated) return found;
    keyMarker = page.NextKeyMarker;
    versionMarker = page.NextVersionIdMarker;
  }
}

/** ETags of the input objects under `prefix`, by key relative to it. */
async function inputEtags(prefix: string): Promise<Map<string, string>> {
  const all = await versions(input.name);
  return new Map(
    [...all]
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, v]) => [key.slice(prefix.length), v.etag]),
  );
}

/** Every input has exactly one output version, byte-identical (same single-PUT ETag, the MD5). */
async function expectEveryOutputOnce(prefix: string, out: string, count: number): Promise<void> {
  const inputs = await inputEtags(prefix);
  expect(inputs.size).toBe(count);
  const outputs = await versions(out);
  expect(outputs.size).toBe(count);
  const wrong = [...inputs].filter(([key, etag]) => {
    const o = outputs.get(key);
    return o === undefined || o.count !== 1 || o.etag !== etag;
  });
  expect(wrong.slice(0, 5)).toEqual([]);
}

async function until(check: () => Promise<boolean>, what: string, tries = 1200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('s3worker enqueue', () => {
  it('enqueues 20,000 objects with tricky keys; three queue workers drain them: every output once', async () => {
    const { queue, out } = await setup();
    const count = 20_000;
    const { prefix } = await arrange(count);
    const r = await startCli(
      [
        'enqueue',
        '--queue',
        queue.url,
        '--input',
        `s3://${input.name}/${prefix}`,
        '--checkpoint',
        join(tmp, 'enqueue.checkpoint.json'),
      ],
      { env: env() },
    ).done;
    expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(ExitCode.Success);
    expect(summaryOf(r).objects).toEqual({ done: count, skipped: 0, failed: 0, listed: count });
    expect(summaryOf(r).enqueue).toMatchObject({ batches: count / 10, sent: count, failed: 0 });
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: count, inFlight: 0 });

    const runs = await drain(prefix, queue, out);
    const total = (f: (s: ReturnType<typeof summaryOf>) => number) =>
      runs.map(summaryOf).reduce((n, s) => n + f(s), 0);
    expect(total((s) => s.queue.received ?? 0)).toBe(count);
    expect(total((s) => s.queue.poison ?? 0)).toBe(0);
    expect(total((s) => s.objects.done)).toBe(count);
    await expectEveryOutputOnce(prefix, out, count);
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 0, inFlight: 0 });
    expect(await queueCounts(sqs, queue.dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
  }, 900_000);

  it('killed (SIGKILL) mid-way and run again, it resumes after its S3 checkpoint: every object enqueued, the re-sent ones bounded, outputs once', async () => {
    const { queue, out } = await setup();
    const count = 5_000;
    const { prefix } = await arrange(count);
    const checkpointKey = `checkpoints/${prefix}enqueue.json`;
    const checkpointEvery = 5;
    const concurrency = 2;
    const args = [
      'run',
      'enqueue',
      '--queue',
      queue.url,
      '--input',
      `s3://${input.name}/${prefix}`,
      '--checkpoint',
      `s3://${input.name}/${checkpointKey}`,
      '--checkpoint-every',
      String(checkpointEvery),
      '--concurrency',
      String(concurrency),
    ];
    const readCheckpoint = async (): Promise<Record<string, unknown> | undefined> => {
      try {
        const got = await s3.send(new GetObjectCommand({ Bucket: input.name, Key: checkpointKey }));
        return JSON.parse(await got.Body!.transformToString()) as Record<string, unknown>;
      } catch {
        return undefined;
      }
    };
    // A slow path to SQS, so the kill lands while batches are in flight.
    const proxy = await startTcpProxy(servers.sqs.endpoint);
    cleanups.push(() => proxy.stop());
    proxy.setDelay(15);
    const first: CliProcess = startCli(args, { env: env({ AWS_ENDPOINT_URL_SQS: proxy.url }) });
    await until(async () => {
      const checkpoint = await readCheckpoint();
      return checkpoint?.after !== undefined && (checkpoint.sent as number) >= 1_000;
    }, 'a checkpoint past 1,000 messages');
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const atKill = (await readCheckpoint())!;
    expect(atKill.complete).toBe(false);
    const sentBeforeKill = (await queueCounts(sqs, queue.url)).visible;
    expect(sentBeforeKill).toBeLessThan(count);

    proxy.setDelay(0);
    const second = await startCli(args, { env: env() }).done;
    expect(second.code, second.stderr + second.stdout.slice(-2000)).toBe(ExitCode.Success);
    const resumed = second.logs.find((l) => l.msg === 'resuming after the checkpoint');
    expect(resumed).toMatchObject({ after: atKill.after, sent: atKill.sent });
    // Only the objects after the checkpoint's key were listed and sent again.
    const summary = summaryOf(second);
    expect(summary.objects.done).toBe(count - (atKill.sent as number));
    expect(await readCheckpoint()).toMatchObject({ complete: true, sent: count, failed: 0 });

    // Re-sent: what the killed run sent past its last checkpoint, at most the batches between
    // two checkpoints plus those in flight or finished ahead (docs/queue-mode.md).
    const messages = (await queueCounts(sqs, queue.url)).visible;
    expect(messages).toBeGreaterThanOrEqual(count);
    expect(messages - count).toBeLessThanOrEqual((checkpointEvery + 2 * concurrency) * 10);

    const runs = await drain(prefix, queue, out);
    const received = runs.map(summaryOf).reduce((n, s) => n + (s.queue.received ?? 0), 0);
    expect(received).toBe(messages);
    await expectEveryOutputOnce(prefix, out, count);
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 0, inFlight: 0 });

    // Run again once finished: the checkpoint says complete, nothing is sent.
    const third = await startCli(args, { env: env() }).done;
    expect(third.code).toBe(ExitCode.Success);
    expect(summaryOf(third).objects).toMatchObject({ done: 0, listed: 0 });
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 0, inFlight: 0 });
  }, 600_000);
});

/** A key as S3 Inventory CSV and Batch Operations manifests write it: form-encoded. */
function formEncode(key: string): string {
  return encodeURIComponent(key).replace(/%20/g, '+');
}

/** The objects named by the messages now on the queue (received, left in flight). */
async function enqueuedObjects(queue: TestQueue) {
  const bodies = await drainBodies(sqs, queue.url);
  return bodies.flatMap((body) => {
    const parsed = parseS3EventMessage(body);
    if (parsed.kind !== 'objects') throw new Error(`not an S3 event: ${body}`);
    return parsed.objects.map((o) => ({
      ...o,
      versionId: JSON.parse(body).Records[0].s3.object.versionId,
    }));
  });
}

describe('s3worker enqueue stopped by SIGTERM', () => {
  it('answers the batches in flight, writes its checkpoint, exits Interrupted; run again, nothing is sent twice', async () => {
    const queue = await createTestQueue(sqs);
    cleanups.push(queue.remove);
    const count = 3_000;
    const { prefix } = await arrange(count);
    const checkpoint = join(tmp, 'sigterm.checkpoint.json');
    const args = [
      ...['enqueue', '--queue', queue.url, '--input', `s3://${input.name}/${prefix}`],
      ...['--checkpoint', checkpoint, '--checkpoint-every', '5', '--concurrency', '2'],
    ];
    const proxy = await startTcpProxy(servers.sqs.endpoint);
    cleanups.push(() => proxy.stop());
    proxy.setDelay(15);
    const first = startCli(args, { env: env({ AWS_ENDPOINT_URL_SQS: proxy.url }) });
    await until(async () => (await queueCounts(sqs, queue.url)).visible >= 500, '500 messages');
    first.child.kill('SIGTERM');
    const stopped = await first.done;
    expect(stopped.code, stopped.stdout.slice(-2000)).toBe(ExitCode.Interrupted);
    const written = JSON.parse(readFileSync(checkpoint, 'utf8')) as Record<string, unknown>;
    const visible = (await queueCounts(sqs, queue.url)).visible;
    expect(written).toMatchObject({ complete: false, sent: visible });
    expect(visible).toBeLessThan(count);

    proxy.setDelay(0);
    const second = await startCli(args, { env: env() }).done;
    expect(second.code, second.stdout.slice(-2000)).toBe(ExitCode.Success);
    expect(summaryOf(second).objects.done).toBe(count - visible);
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: count, inFlight: 0 });
  }, 600_000);
});

describe('s3worker enqueue from a report', () => {
  it('--inventory (CSV gzip): one message per current object in manifest order, with the report size and ETag; archived and delete-marker rows skipped and counted; resumed after its checkpoint', async () => {
    const queue = await createTestQueue(sqs);
    cleanups.push(queue.remove);
    const folder = `inv-${randomBytes(3).toString('hex')}/${input.name}/daily`;
    const rows = Array.from({ length: 60 }, (_, i) => ({
      key: trickyKey('data/', i),
      size: 100 + i,
      etag: createHash('md5').update(String(i)).digest('hex'),
      storageClass: i === 7 ? 'GLACIER' : 'STANDARD',
      deleteMarker: i === 11,
    }));
    const csv = (part: typeof rows) =>
      gzipSync(
        part
          .map((r) =>
            [
              input.name,
              formEncode(r.key),
              r.deleteMarker ? '' : String(r.size),
              '2026-01-02T03:04:05.000Z',
              r.deleteMarker ? '' : r.etag,
              r.storageClass,
              'true',
              String(r.deleteMarker),
            ]
              .map((f) => `"${f}"`)
              .join(','),
          )
          .join('\n'),
      );
    const files = [csv(rows.slice(0, 35)), csv(rows.slice(35))].map((body, i) => ({
      key: `${folder}/data/part-${i}.csv.gz`,
      body,
    }));
    for (const f of files) {
      await s3.send(new PutObjectCommand({ Bucket: input.name, Key: f.key, Body: f.body }));
    }
    const manifestKey = `${folder}/2026-01-03T00-00Z/manifest.json`;
    await s3.send(
      new PutObjectCommand({
        Bucket: input.name,
        Key: manifestKey,
        Body: JSON.stringify({
          sourceBucket: input.name,
          destinationBucket: `arn:aws:s3:::${input.name}`,
          version: '2016-11-30',
          fileFormat: 'CSV',
          fileSchema:
            'Bucket, Key, Size, LastModifiedDate, ETag, StorageClass, IsLatest, IsDeleteMarker',
          files: files.map((f) => ({
            key: f.key,
            size: f.body.length,
            MD5checksum: createHash('md5').update(f.body).digest('hex'),
          })),
        }),
      }),
    );
    const inventory = `s3://${input.name}/${manifestKey}`;
    const checkpoint = join(tmp, 'inventory.checkpoint.json');
    const args = (at: string) => [
      ...['enqueue', '--queue', queue.url, '--inventory', inventory],
      ...['--checkpoint', at],
    ];
    // As a run killed after its 20th object would have left it.
    writeFileSync(
      checkpoint,
      JSON.stringify({
        version: 1,
        source: `inventory ${inventory}`,
        queue: queue.url,
        after: rows[19]!.key,
        taken: 20,
        sent: 19,
        failed: 0,
        complete: false,
        updatedAt: new Date().toISOString(),
      }),
    );
    const r = await startCli(args(checkpoint), { env: env() }).done;
    expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(ExitCode.Success);
    // Rows 20..59 remain (40), of which the delete marker (11) is not among them: 40 messages.
    expect(summaryOf(r).objects).toEqual({ done: 40, skipped: 0, failed: 0, listed: 40 });
    const sent = await enqueuedObjects(queue);
    // Batches are sent several at once: the queue's order is not the report's.
    expect(sent.map((o) => o.key).sort()).toEqual(
      rows
        .slice(20)
        .map((o) => o.key)
        .sort(),
    );
    expect(sent.find((o) => o.key === rows[20]!.key)).toMatchObject({
      bucket: input.name,
      size: rows[20]!.size,
      etag: rows[20]!.etag,
      eventTime: '2026-01-02T03:04:05.000Z',
    });

    // From the start (a new checkpoint): the archived and the delete-marker rows are skipped.
    const fresh = await startCli(args(join(tmp, 'fresh.json')), { env: env() }).done;
    expect(fresh.code, fresh.stderr + fresh.stdout.slice(-2000)).toBe(ExitCode.Success);
    expect(summaryOf(fresh).objects).toEqual({ done: 58, skipped: 2, failed: 0, listed: 60 });
    expect(summaryOf(fresh).skippedBy).toEqual({ archived: 1, 'delete-marker': 1 });
  }, 300_000);

  it('--manifest (Batch Operations CSV): one message per line, keys decoded, version ids carried', async () => {
    const queue = await createTestQueue(sqs);
    cleanups.push(queue.remove);
    const lines = Array.from({ length: 25 }, (_, i) => ({
      key: trickyKey('m/', i),
      versionId: i % 2 === 0 ? `v${i}` : undefined,
    }));
    const manifestKey = `manifests/${randomBytes(3).toString('hex')}.csv`;
    await s3.send(
      new PutObjectCommand({
        Bucket: input.name,
        Key: manifestKey,
        Body: lines
          .map((l) =>
            [input.name, formEncode(l.key), ...(l.versionId ? [l.versionId] : [])].join(','),
          )
          .join('\n'),
      }),
    );
    const r = await startCli(
      ['enqueue', '--queue', queue.url, '--manifest', `s3://${input.name}/${manifestKey}`],
      { env: env() },
    ).done;
    expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(ExitCode.Success);
    expect(summaryOf(r).objects).toEqual({ done: 25, skipped: 0, failed: 0, listed: 25 });
    const sent = await enqueuedObjects(queue);
    const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : 1);
    expect(sent.sort(byKey).map((o) => [o.key, o.versionId])).toEqual(
      lines.sort(byKey).map((l) => [l.key, l.versionId]),
    );
    expect(sent.every((o) => o.size === undefined && o.etag === undefined)).toBe(true);
  }, 300_000);

  it('--manifest with version ids on a versioned bucket: the queue workers read the named (older) versions, not the latest', async () => {
    const queue = await createTestQueue(sqs);
    cleanups.push(queue.remove);
    const versioned = { name: await versionedBucket('enqueue-ver') };
    const keys = ['v/a file.txt', 'v/b+c.txt', 'v/été.txt'];
    const first = new Map<string, string>();
    for (const key of keys) {
      const put = await s3.send(
        new PutObjectCommand({ Bucket: versioned.name, Key: key, Body: `first of ${key}\n` }),
      );
      first.set(key, put.VersionId as string);
      await s3.send(
        new PutObjectCommand({ Bucket: versioned.name, Key: key, Body: `latest of ${key}\n` }),
      );
    }
    const manifestKey = 'manifest.csv';
    await s3.send(
      new PutObjectCommand({
        Bucket: versioned.name,
        Key: manifestKey,
        Body: keys.map((k) => `${versioned.name},${formEncode(k)},${first.get(k)}`).join('\n'),
      }),
    );
    const sent = await startCli(
      ['enqueue', '--queue', queue.url, '--manifest', `s3://${versioned.name}/${manifestKey}`],
      { env: env() },
    ).done;
    expect(sent.code, sent.stderr + sent.stdout.slice(-2000)).toBe(ExitCode.Success);
    const out = await createTestBucket(s3, 'enqueue-ver-out');
    cleanups.push(out.remove);
    const worker = await startCli(
      [
        'run',
        'stream-transform',
        '--input',
        `s3://${versioned.name}/v/`,
        '--output',
        `s3://${out.name}/`,
        '--queue',
        queue.url,
        '--exit-when-idle',
        '3s',
      ],
      { env: env() },
    ).done;
    expect(worker.code, worker.stderr + worker.stdout.slice(-2000)).toBe(ExitCode.Success);
    for (const key of keys) {
      const got = await s3.send(
        new GetObjectCommand({ Bucket: out.name, Key: key.slice('v/'.length) }),
      );
      expect(await got.Body?.transformToString()).toBe(`first of ${key}\n`);
    }
  }, 300_000);
});
