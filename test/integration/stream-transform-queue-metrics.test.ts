import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { incompleteUploads, listKeys, putObjects } from '../fixtures/stream-transform/harness.js';
import { emfProblems, metricLines, metricSum } from '../support/emf.js';
import { type CliProcess, type CliResult, startCli, workerEnv } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';
import {
  createTestQueue,
  queueCounts,
  s3EventBody,
  sendBodies,
  sqsClient,
  type TestQueue,
  testEventBody,
} from '../support/sqs.js';

const MiB = 1024 * 1024;
const servers = inject('servers');
const QUEUE_METRICS = [
  'MessagesReceived',
  'MessagesDeleted',
  'MessagesReturned',
  'PoisonMessages',
  'OldestMessageAgeSeconds',
];

let s3: S3Client;
let sqs: SQSClient;
let input: { name: string; remove: () => Promise<void> };
let tmp: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  s3 = adminClient(servers.s3);
  sqs = sqsClient(servers.sqs);
  input = await createTestBucket(s3, 'st-qmetrics-in');
  tmp = mkdtempSync(join(tmpdir(), 's3worker-st-qmetrics-'));
});
afterAll(async () => {
  await input?.remove();
  s3?.destroy();
  sqs?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A queue whose messages stay hidden for 120 s once received, so none comes back within a run:
 * each is received once, and what the run did not delete is still in flight when it ends.
 */
async function setup(): Promise<{ queue: TestQueue; out: string }> {
  const queue = await createTestQueue(sqs, { visibilityTimeoutSeconds: 120 });
  cleanups.push(queue.remove);
  const out = await createTestBucket(s3, 'st-qmetrics-out');
  cleanups.push(out.remove);
  return { queue, out: out.name };
}

/** One worker on the queue with metric lines every second. */
function worker(
  prefix: string,
  queue: TestQueue,
  out: string,
  extra: string[],
  env: Record<string, string> = {},
): CliProcess {
  const args = ['--input', `s3://${input.name}/${prefix}`, '--output', `s3://${out}/`];
  return startCli(
    [
      'run',
      ...extra,
      ...args,
      '--queue',
      queue.url,
      '--metrics',
      'emf',
      '--metrics-interval',
      '1s',
    ],
    { env: workerEnv(servers.s3, mkdtempSync(join(tmp, 'w-')), env) },
  );
}

/** Every metric line of the run is valid EMF and carries the five queue metrics as numbers. */
function checkedMetricLines(r: CliResult): Array<Record<string, unknown>> {
  const lines = metricLines(r.logs);
  expect(lines.length, r.stdout).toBeGreaterThan(0);
  for (const line of lines) {
    expect(emfProblems(line)).toEqual([]);
    for (const name of QUEUE_METRICS) expect(typeof line[name], name).toBe('number');
  }
  expect(
    lines.map((l) => l.msg),
    'interval lines, then the summary',
  ).toEqual([...lines.slice(0, -1).map(() => 'metrics'), 'summary']);
  return lines;
}

function summary(r: CliResult): { objects: { done: number } } {
  const line = r.logs.find((l) => l.msg === 'summary');
  if (!line) throw new Error(`no summary line; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return line as unknown as { objects: { done: number } };
}

describe('stream-transform --queue metrics (--metrics emf)', () => {
  it('the metric lines sum to what SQS and MinIO show: messages received, deleted, returned and poison, objects done; the oldest age covers a message sent before the run', async () => {
    const { queue, out } = await setup();
    const prefix = `m-${randomBytes(3).toString('hex')}/`;
    const good = Array.from({ length: 12 }, (_, i) => ({
      key: `${prefix}good-${i}.txt.gz`,
      body: gzipSync(`line ${i}\n`),
    }));
    const broken = { key: `${prefix}broken.txt.gz`, body: Buffer.from('\x1f\x8bnot deflate') };
    await putObjects(s3, input.name, [...good, broken]);

    // The oldest message: sent, then a known wait before the worker starts.
    await sendBodies(sqs, queue.url, [s3EventBody(input.name, [good[0]!])]);
    const oldestSentBy = Date.now();
    const removed = JSON.parse(s3EventBody(input.name, [good[1]!]));
    removed.Records[0].eventName = 'ObjectRemoved:Delete';
    const poison = [
      'this is not an event',
      JSON.stringify(removed),
      s3EventBody('another-bucket', [good[1]!]),
    ];
    const rest = [
      // Two objects in one message, then one per message.
      s3EventBody(input.name, [good[1]!, good[2]!]),
      ...good.slice(3).map((o) => s3EventBody(input.name, [o])),
      testEventBody(input.name),
      s3EventBody(input.name, [broken]),
      ...poison,
    ];
    await sendBodies(sqs, queue.url, rest);
    const sent = (await queueCounts(sqs, queue.url)).visible;
    expect(sent).toBe(1 + rest.length);
    await sleep(2000);

    const startedAt = Date.now();
    const r = await worker(prefix, queue, out, [
      'stream-transform',
      '--transform',
      'gunzip',
      '--exit-when-idle',
      '3s',
    ]).done;
    // The broken object failed: its message is left for redelivery.
    expect(r.code, r.stderr).toBe(ExitCode.ObjectsFailed);
    const lines = checkedMetricLines(r);
    expect(lines.some((l) => l.msg === 'metrics')).toBe(true);

    const left = await queueCounts(sqs, queue.url);
    // Nothing came back within the run; what is left is hidden: the poison and failed ones.
    expect(left).toEqual({ visible: 0, inFlight: poison.length + 1 });
    expect(metricSum(r.logs, 'MessagesReceived')).toBe(sent);
    expect(metricSum(r.logs, 'MessagesDeleted')).toBe(sent - left.inFlight);
    expect(metricSum(r.logs, 'PoisonMessages')).toBe(poison.length);
    expect(metricSum(r.logs, 'MessagesReturned')).toBe(1);
    // The outputs, not the failure report beside them.
    const outputs = (await listKeys(s3, out)).filter((k) => !k.startsWith('_s3worker/'));
    expect(outputs).toHaveLength(good.length);
    expect(summary(r).objects.done).toBe(outputs.length);
    expect(metricSum(r.logs, 'ObjectsDone')).toBe(outputs.length);

    const ages = lines.map((l) => l.OldestMessageAgeSeconds as number);
    for (const age of ages) expect(age).toBeGreaterThanOrEqual(0);
    // SentTimestamp is before `oldestSentBy`, the receipt after `startedAt`.
    expect(Math.max(...ages)).toBeGreaterThanOrEqual((startedAt - oldestSentBy) / 1000);
  }, 120_000);

  it('on SIGTERM the messages handed back are MessagesReturned, and visible again in the queue', async () => {
    const { queue, out } = await setup();
    const prefix = `t-${randomBytes(3).toString('hex')}/`;
    const objects = Array.from({ length: 3 }, (_, i) => ({
      key: `${prefix}big-${i}.bin`,
      body: randomBytes(6 * MiB),
    }));
    await putObjects(s3, input.name, objects);
    await sendBodies(
      sqs,
      queue.url,
      objects.map((o) => s3EventBody(input.name, [o])),
    );
    // One object at a time, pausing once its first part is uploaded; the other two wait.
    const run = worker(
      prefix,
      queue,
      out,
      [
        'slow-copy',
        '--handler',
        'test/fixtures/stream-transform/slow-copy-job.mjs',
        '--concurrency',
        '1',
        '--part-size',
        '5MiB',
        '--drain-timeout',
        '1s',
      ],
      { SLOW_DELAY_MS: '120000', SLOW_AFTER_BYTES: String(5.5 * MiB) },
    );
    for (let i = 0; (await incompleteUploads(s3, out)) < 1; i++) {
      if (i > 1200) throw new Error('no multipart upload started');
      await sleep(100);
    }
    expect((await queueCounts(sqs, queue.url)).inFlight).toBe(objects.length);
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(ExitCode.Interrupted);
    require('node:fs').writeFileSync('/tmp/mq/term.log', r.stdout);
    checkedMetricLines(r);
    const left = await queueCounts(sqs, queue.url);
    expect(left).toEqual({ visible: objects.length, inFlight: 0 });
    expect(metricSum(r.logs, 'MessagesReceived')).toBe(objects.length);
    expect(metricSum(r.logs, 'MessagesReturned')).toBe(left.visible);
    expect(metricSum(r.logs, 'MessagesDeleted')).toBe(0);
    expect(metricSum(r.logs, 'PoisonMessages')).toBe(0);
    expect(await listKeys(s3, out)).toEqual([]);
  }, 120_000);
});
