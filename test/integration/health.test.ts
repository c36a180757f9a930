import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import {
  expectedLines,
  LogWriter,
  missingLines,
  shippedLines,
} from '../fixtures/ship-logs/harness.js';
import { listKeys, putLargeObject, putObjects } from '../fixtures/stream-transform/harness.js';
import { type FaultRule, startFaultProxy } from '../support/fault-proxy.js';
import { type CliProcess, runCli, startCli, workerEnv } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';
import { createTestQueue, s3EventBody, sendBodies, sqsClient } from '../support/sqs.js';

// What `s3worker healthcheck` says about each job, run as a container runs it: the worker writes
// its status file, `healthcheck --max-age` reads it. The rule under test: the progress mark moves
// only with acknowledged work (bytes S3 stored, batches acknowledged, messages settled) or while
// a job with nothing pending polls for work; scans, reads, retries and failures move nothing.

const servers = inject('servers');

/** `--max-age` of the checks: well above the workers' 200 ms progress ticks. */
const MAX_AGE_MS = 3_000;
/** How often the tests run the health check (the `interval` of Docker's and ECS's checks). */
const POLL_MS = 500;
/**
 * A check's own start: a Node.js process on a loaded test machine. A verdict is due within
 * `--max-age` plus one poll, plus this.
 */
const CHECK_START_MS = 5_000;
/** Every worker here reports (and writes its status file) this often. */
const TICKS = ['--progress-interval', '200ms'];

let tmp: string;
let s3: S3Client;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(() => {
  s3 = adminClient(servers.s3);
});
afterAll(() => {
  s3?.destroy();
});
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-health-'));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

/** A bucket of this test, removed after it. */
async function testBucket(prefix: string): Promise<string> {
  const bucket = await createTestBucket(s3, prefix);
  cleanups.push(bucket.remove);
  return bucket.name;
}

/** A fault proxy in front of the test S3 server, closed after the test. */
async function faultProxy() {
  const proxy = await startFaultProxy(servers.s3.endpoint);
  cleanups.push(() => proxy.close());
  return proxy;
}

/** Every upload request (PutObject, UploadPart, CreateMultipartUpload...) answered `status`. */
function refuseUploads(status: number, code: string): FaultRule {
  return (r) =>
    r.method === 'PUT' || r.method === 'POST' ? { kind: 'status', status, code } : undefined;
}

interface HealthReading {
  healthy: boolean;
  /** The check's one line (`healthy: ...` or `unhealthy: ...`). */
  line: string;
  /** When the check started, ms since the epoch. */
  startedAt: number;
}

/** One `s3worker healthcheck --max-age <maxAgeMs>` beside the worker of scratch folder `dir`. */
async function healthcheck(dir: string, maxAgeMs = MAX_AGE_MS): Promise<HealthReading> {
  const startedAt = Date.now();
  const r = await runCli(['healthcheck', '--max-age', `${maxAgeMs / 1000}s`], {
    env: { S3WORKER_TMPDIR: dir },
  });
  // 0 healthy, 1 unhealthy; never 2, which Docker reserves.
  expect([0, 1], r.stdout + r.stderr).toContain(r.code);
  return { healthy: r.code === 0, line: r.stdout.trim(), startedAt };
}

/**
 * Runs the check every `pollMs` until its verdict is `healthy`; stops at the first check that
 * would start after `deadline` (ms since the epoch), or after `tries` checks. Returns the last
 * reading: the caller asserts its verdict.
 */
async function untilVerdict(
  dir: string,
  healthy: boolean,
  deadline: number,
  options: { tries?: number; pollMs?: number } = {},
): Promise<HealthReading> {
  const { tries = 100, pollMs = POLL_MS } = options;
  let last = await healthcheck(dir);
  for (let i = 1; i < tries && last.healthy !== healthy && Date.now() <= deadline; i++) {
    await sleep(pollMs);
    if (Date.now() > deadline) break;
    last = await healthcheck(dir);
  }
  return last;
}

/**
 * Checks every `pollMs` until one has started at or after `until` (ms since the epoch), at most
 * `tries`; returns every reading.
 */
async function readingsUntil(
  dir: string,
  until: number,
  options: { tries?: number; pollMs?: number; maxAgeMs?: number } = {},
): Promise<HealthReading[]> {
  const { tries = 100, pollMs = POLL_MS, maxAgeMs = MAX_AGE_MS } = options;
  const readings: HealthReading[] = [];
  for (let i = 0; i < tries; i++) {
    const reading = await healthcheck(dir, maxAgeMs);
    readings.push(reading);
    if (reading.startedAt >= until) break;
    await sleep(Math.max(0, Math.min(pollMs, until - Date.now())));
  }
  return readings;
}

/** The `logs` section of a ship-logs progress line. */
function logsOf(line: Record<string, unknown>): { lines: number; spoolBatches: number } {
  return (
    (line.logs as { lines: number; spoolBatches: number } | undefined) ?? {
      lines: 0,
      spoolBatches: 0,
    }
  );
}

/** The `queue` section of a queue-mode progress line. */
function queueOf(line: Record<string, unknown>): Record<string, number> {
  return (line.queue as Record<string, number> | undefined) ?? {};
}

/** The object counts of a progress line. */
function objectsOf(line: Record<string, unknown>): { done: number; failed: number } {
  return (line.objects as { done: number; failed: number } | undefined) ?? { done: 0, failed: 0 };
}

/** Polls until `check` is true; bounded in count and time. */
async function until(check: () => Promise<boolean>, what: string, tries = 600): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** `s3worker run stream-transform` from `input` to `output` (plus `extra`), status in tmp. */
function streamTransform(
  input: string,
  output: string,
  env: Record<string, string>,
  extra: string[] = [],
): CliProcess {
  return startCli(
    [
      'run',
      'stream-transform',
      '--input',
      `s3://${input}/`,
      '--output',
      `s3://${output}/`,
      '--drain-timeout',
      '2s',
      ...TICKS,
      ...extra,
    ],
    { env: workerEnv(servers.s3, tmp, env) },
  );
}

/**
 * stream-transform through a proxy that answers every upload 503 SlowDown, each object failing
 * after about a second (`--retry-window 1s`), two at a time.
 */
async function refusedStreamTransform(input: string, output: string, extra: string[] = []) {
  const proxy = await faultProxy();
  proxy.setRule(refuseUploads(503, 'SlowDown'));
  const run = streamTransform(
    input,
    output,
    { S3WORKER_ENDPOINT: proxy.endpoint, AWS_MAX_ATTEMPTS: '1' },
    ['--concurrency', '2', '--retry-window', '1s', ...extra],
  );
  return { proxy, run };
}

describe('ship-logs: healthy while batches are acknowledged or none waits', () => {
  function shipper(
    logs: string,
    bucket: string,
    prefix: string,
    env: Record<string, string>,
  ): CliProcess {
    return startCli(
      [
        'run',
        'ship-logs',
        '--path',
        join(logs, '*.log'),
        '--output',
        `s3://${bucket}/${prefix}`,
        '--start-at',
        'beginning',
        '--max-batch-age',
        '300ms',
        '--poll-interval',
        '100ms',
        '--spool-dir',
        join(tmp, 'spool'),
        ...TICKS,
      ],
      { env: workerEnv(servers.s3, tmp, env) },
    );
  }

  it.each([
    { status: 503, code: 'SlowDown' },
    // A 4xx that is neither access denied, a missing bucket nor a wrong region: retried forever.
    { status: 400, code: 'InvalidRequest' },
  ])(
    'uploads answered $status: unhealthy within --max-age while lines keep coming and batches wait; healthy again once uploads go through',
    async ({ status, code }) => {
      const bucket = await testBucket('health-logs');
      const proxy = await faultProxy();
      proxy.setRule(refuseUploads(status, code));
      const logs = join(tmp, 'logs');
      mkdirSync(logs);
      const a = new LogWriter(join(logs, 'a.log'));
      const run = shipper(logs, bucket, 'refused/', {
        S3WORKER_ENDPOINT: proxy.endpoint,
        AWS_MAX_ATTEMPTS: '1',
      });
      // A busy application: lines arrive the whole time, so the tailer reads and scans on.
      const writing = setInterval(() => a.write('a', 20), 50);
      try {
        const waiting = await run.waitForLog('progress', 30_000, (l) => logsOf(l).spoolBatches > 0);
        // From this tick on nothing is acknowledged: the verdict is due within --max-age + a poll.
        const since = Date.now();
        const verdict = await untilVerdict(
          tmp,
          false,
          since + MAX_AGE_MS + POLL_MS + CHECK_START_MS,
        );
        expect(verdict.healthy, verdict.line).toBe(false);
        expect(verdict.line).toMatch(/ship-logs run .* has made no progress for \d+s \(limit 3s\)/);
        // Meanwhile the shipper kept reading lines and scanning, and the batches stayed spooled.
        const later = await run.waitForLog(
          'progress',
          10_000,
          (l) => logsOf(l).lines > logsOf(waiting).lines && logsOf(l).spoolBatches > 1,
        );
        expect(objectsOf(later).done).toBe(0);
        expect(proxy.faults.get('status')).toBeGreaterThan(0);

        proxy.setRule(undefined);
        const back = await untilVerdict(tmp, true, Date.now() + 90_000, { tries: 200 });
        expect(back.healthy, back.line).toBe(true);
      } finally {
        clearInterval(writing);
      }
      run.child.kill('SIGTERM');
      const result = await run.done;
      a.close();
      expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
      const shipped = await shippedLines(s3, bucket, 'refused/');
      expect(missingLines(expectedLines({ a: a.written }), shipped)).toEqual([]);
    },
  );

  it('an idle shipper with an empty spool stays healthy past --max-age', async () => {
    const bucket = await testBucket('health-logs');
    const logs = join(tmp, 'logs');
    mkdirSync(logs);
    const a = new LogWriter(join(logs, 'a.log'));
    a.write('a', 10);
    const run = shipper(logs, bucket, 'idle/', {});
    try {
      // The one batch acknowledged, the spool empty: from here on only the scans move.
      const idle = await run.waitForLog(
        'progress',
        30_000,
        (l) => objectsOf(l).done === 1 && logsOf(l).spoolBatches === 0,
      );
      const since = Date.now();
      const readings = await readingsUntil(tmp, since + 2 * MAX_AGE_MS);
      expect(readings.filter((r) => !r.healthy).map((r) => r.line)).toEqual([]);
      // Checked past --max-age after the last acknowledged batch.
      expect(readings.at(-1)!.startedAt - since).toBeGreaterThan(MAX_AGE_MS);
      const last = await run.waitForLog(
        'progress',
        5_000,
        (l) => Number(l.elapsedMs) > Number(idle.elapsedMs) + 2 * MAX_AGE_MS,
      );
      expect(logsOf(last).lines).toBe(10);
      expect(objectsOf(last).done).toBe(1);
    } finally {
      a.close();
    }
    run.child.kill('SIGTERM');
    expect((await run.done).code).toBe(ExitCode.Success);
  });
});

describe('stream-transform --queue: healthy while messages settle or the queue is idle', () => {
  let sqs: SQSClient;
  beforeAll(() => {
    sqs = sqsClient(servers.sqs);
  });
  afterAll(() => {
    sqs?.destroy();
  });

  async function queueSetup(options: { visibilityTimeoutSeconds?: number } = {}) {
    const queue = await createTestQueue(sqs, { ...options, maxReceiveCount: 100 });
    cleanups.push(queue.remove);
    const input = await testBucket('health-q-in');
    const output = await testBucket('health-q-out');
    return { queue, input, output };
  }

  it('messages received but none settled (uploads refused): unhealthy within --max-age; healthy once they settle', async () => {
    const { queue, input, output } = await queueSetup({ visibilityTimeoutSeconds: 5 });
    const objects = Array.from({ length: 40 }, (_, i) => ({
      key: `in/${i}.txt`,
      body: randomBytes(1024),
    }));
    await putObjects(s3, input, objects);
    await sendBodies(
      sqs,
      queue.url,
      objects.map((o) => s3EventBody(input, [o])),
    );
    const { proxy, run } = await refusedStreamTransform(input, output, ['--queue', queue.url]);
    await run.waitForLog('progress', 30_000, (l) => (queueOf(l).received ?? 0) > 0);
    const since = Date.now();
    const verdict = await untilVerdict(tmp, false, since + MAX_AGE_MS + POLL_MS + CHECK_START_MS);
    expect(verdict.healthy, verdict.line).toBe(false);
    expect(verdict.line).toMatch(/stream-transform run .* has made no progress for \d+s/);
    // Objects kept failing and messages kept coming and going meanwhile; none was deleted.
    const busy = await run.waitForLog('progress', 10_000, (l) => objectsOf(l).failed > 2);
    expect(queueOf(busy).deleted).toBe(0);

    proxy.setRule(undefined);
    const back = await untilVerdict(tmp, true, Date.now() + 60_000, { tries: 200 });
    expect(back.healthy, back.line).toBe(true);
    await until(
      async () => (await listKeys(s3, output)).length === objects.length,
      'every output written',
    );
    run.child.kill('SIGTERM');
    const result = await run.done;
    // Failed objects and a stop: the failures' code wins.
    expect(result.code, result.stderr).toBe(ExitCode.ObjectsFailed);
  });

  it('an idle consumer on an empty queue stays healthy past --max-age (its answered long polls)', async () => {
    const { queue, input, output } = await queueSetup();
    const run = streamTransform(input, output, {}, ['--queue', queue.url]);
    await run.waitForLog('queue consumer starting');
    // A long poll answers empty every 20 s: --max-age must outlast one.
    const maxAgeMs = 25_000;
    const since = Date.now();
    const readings = await readingsUntil(tmp, since + maxAgeMs + 10_000, {
      maxAgeMs,
      pollMs: 2_000,
    });
    expect(readings.filter((r) => !r.healthy).map((r) => r.line)).toEqual([]);
    expect(readings.at(-1)!.startedAt - since).toBeGreaterThan(maxAgeMs);
    const polled = await run.waitForLog('progress', 5_000, (l) => (queueOf(l).polls ?? 0) >= 1);
    expect(queueOf(polled).received).toBe(0);
    run.child.kill('SIGTERM');
    expect((await run.done).code).toBe(ExitCode.Interrupted);
  });
});

describe('stream-transform: healthy while S3 stores its bytes', () => {
  it('a long run whose uploads are refused is unhealthy within --max-age, though objects keep being read and failing', async () => {
    const input = await testBucket('health-st-in');
    const output = await testBucket('health-st-out');
    await putObjects(
      s3,
      input,
      Array.from({ length: 60 }, (_, i) => ({ key: `o/${i}.txt`, body: randomBytes(1024) })),
    );
    const { run } = await refusedStreamTransform(input, output);
    const first = await run.waitForLog('progress', 30_000, (l) => objectsOf(l).failed > 0);
    const since = Date.now();
    const verdict = await untilVerdict(tmp, false, since + MAX_AGE_MS + POLL_MS + CHECK_START_MS);
    expect(verdict.healthy, verdict.line).toBe(false);
    expect(verdict.line).toMatch(/stream-transform run .* has made no progress for \d+s/);
    // The run went on reading and failing objects all along.
    const later = await run.waitForLog(
      'progress',
      10_000,
      (l) =>
        objectsOf(l).failed > objectsOf(first).failed && Number(l.bytesIn) > Number(first.bytesIn),
    );
    expect(objectsOf(later).done).toBe(0);
    run.child.kill('SIGTERM');
    expect((await run.done).code).toBe(ExitCode.ObjectsFailed);
  });

  it('a long object: healthy while its parts are acknowledged, unhealthy within --max-age once they stall', async () => {
    const input = await testBucket('health-st-in');
    const output = await testBucket('health-st-out');
    await putLargeObject(s3, input, 'big/object.log', 96 * 1024 * 1024, 7);
    const proxy = await faultProxy();
    let stalledAt: number | undefined;
    let phase: 'slow' | 'stall' = 'slow';
    proxy.setRule((r) => {
      if (r.action !== 'UploadPart') return undefined;
      if (phase === 'slow') return { kind: 'delay', ms: 500 };
      stalledAt ??= Date.now();
      return { kind: 'stall' };
    });
    const run = streamTransform(input, output, { S3WORKER_ENDPOINT: proxy.endpoint }, [
      '--part-size',
      '5MiB',
      '--queue-size',
      '1',
    ]);
    await until(async () => (proxy.counts.get('UploadPart') ?? 0) > 0, 'the first part');
    // 20 parts, one at a time, each acknowledged half a second after it was sent.
    const since = Date.now();
    const readings = await readingsUntil(tmp, since + MAX_AGE_MS + 1_500);
    expect(readings.filter((r) => !r.healthy).map((r) => r.line)).toEqual([]);
    expect(readings.at(-1)!.startedAt - since).toBeGreaterThan(MAX_AGE_MS);
    const partsSent = proxy.counts.get('UploadPart') ?? 0;
    // Still uploading: the checks above saw a transfer in progress, not a finished run.
    expect(partsSent).toBeLessThan(20);

    phase = 'stall';
    await until(async () => stalledAt !== undefined, 'a stalled part');
    const verdict = await untilVerdict(
      tmp,
      false,
      stalledAt! + MAX_AGE_MS + POLL_MS + CHECK_START_MS,
    );
    expect(verdict.healthy, verdict.line).toBe(false);
    expect(verdict.line).toMatch(/stream-transform run .* has made no progress for \d+s/);
    run.child.kill('SIGTERM');
    expect((await run.done).code).toBe(ExitCode.Interrupted);
  });
});
