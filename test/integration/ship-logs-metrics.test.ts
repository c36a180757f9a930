import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import type { JobContext, JobResult } from '../../src/jobs/job.js';
import { type JobMetric, METRICS } from '../../src/jobs/job-metrics.js';
import type { ShipLogsConfig, ShipLogsConfigInput } from '../../src/jobs/ship-logs/config.js';
import { LogShipperJob } from '../../src/jobs/ship-logs/log-shipper-job.js';
import type { TaskMetadata } from '../../src/jobs/task-metadata.js';
import {
  expectedLines,
  LogWriter,
  repeatedLines,
  shippedLines,
  shippedObjects,
  waitUntil,
} from '../fixtures/ship-logs/harness.js';
import {
  CountingProgress,
  type TestRun,
  testContext,
} from '../fixtures/stream-transform/harness.js';
import { emfProblems, metricLines, metricSum } from '../support/emf.js';
import { type CliProcess, startCli, workerEnv } from '../support/run-cli.js';
import { adminClient } from '../support/s3.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { useTestBucket } from '../support/test-bucket.js';

const server = inject('servers').s3;
const bucket = useTestBucket(server, 'ship-logs-metrics');
let tmp: string;
let logs: string;

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-ship-logs-metrics-'));
  logs = join(tmp, 'logs');
  mkdirSync(logs);
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const SHIP_LOGS_METRICS = METRICS.filter((m) => m.scope === 'ship-logs').map((m) => m.name);

/** A reporter that keeps what the job hands to `addMetrics`, to read them as the runtime would. */
class MetricsRecorder extends CountingProgress {
  readonly metrics = new Map<string, JobMetric>();
  addMetrics(metrics: readonly JobMetric[]): void {
    for (const m of metrics) this.metrics.set(m.name, m);
  }
  /** The metric's value now (throws when the job has not added it). */
  read(name: string): number | undefined {
    const metric = this.metrics.get(name);
    if (!metric) throw new Error(`metric ${name} was not added`);
    return metric.read();
  }
}

/**
 * Output prefixes by the test that ships under them. The tests share the file's bucket and all
 * write the same numbered lines (`a-0000001`, ...), so a test listing a prefix another test also
 * wrote under sees that test's lines as copies of its own: a CI run once failed so, on lines
 * "shipped twice" that were two runs' objects. Overlapping prefixes now fail at once, by name.
 */
const prefixOwners = new Map<string, string>();

function claimPrefix(prefix: string): void {
  const test = expect.getState().currentTestName ?? '';
  for (const [other, owner] of prefixOwners) {
    if (owner !== test && (other.startsWith(prefix) || prefix.startsWith(other))) {
      throw new Error(
        `output prefix ${prefix} overlaps ${other} of "${owner}": give each test its own`,
      );
    }
  }
  prefixOwners.set(prefix, test);
}

/** One in-process shipper: the job's own run with a recording reporter. */
interface InProcessShipper {
  recorder: MetricsRecorder;
  test: TestRun<ShipLogsConfig>;
  done: Promise<JobResult>;
}

/** Starts ship-logs in-process on `logs/*.log` through `s3` with a spool in tmp. */
function startShipper(
  s3: S3Client,
  prefix: string,
  extra: Partial<ShipLogsConfigInput> = {},
  task: TaskMetadata = { ecs: false, hostname: 'test-host' },
): InProcessShipper {
  claimPrefix(prefix);
  const config = LogShipperJob.configSchema.parse({
    path: [join(logs, '*.log')],
    output: `s3://${bucket.name}/${prefix}`,
    startAt: 'beginning',
    maxBatchBytes: '64KiB',
    maxBatchAge: '200ms',
    pollInterval: '50ms',
    compressionLevel: 1,
    spoolDir: join(tmp, 'spool'),
    sweepAge: 0,
    ...extra,
  } satisfies ShipLogsConfigInput) as ShipLogsConfig;
  const job = new LogShipperJob(config);
  const test = testContext(config, s3);
  const recorder = new MetricsRecorder();
  const ctx: JobContext<ShipLogsConfig> = { ...test.ctx, progress: recorder, task };
  test.ctx = ctx;
  return { recorder, test, done: job.run(ctx) };
}

/** Lines in the batches waiting in the spool folder (their `.json` descriptions). */
function spooledLines(): number {
  const dir = join(tmp, 'spool');
  return readdirSync(dir)
    .filter((n) => /^\d+\.json$/.test(n))
    .reduce((sum, n) => sum + Number(JSON.parse(readFileSync(join(dir, n), 'utf8')).lines), 0);
}

/** Bytes of the spool folder's batch data: sealed `.data` files and the open batch's file. */
function spoolDataBytes(): number {
  const dir = join(tmp, 'spool');
  return readdirSync(dir)
    .filter((n) => /^\d+\.data$/.test(n) || n === 'open.data.tmp')
    .reduce((sum, n) => sum + statSync(join(dir, n)).size, 0);
}

describe('ship-logs metrics, as the job reports them', () => {
  it('adds the six ship-logs metrics, and each reads what the run did', async () => {
    const a = new LogWriter(join(logs, 'a.log'));
    for (let i = 0; i < 100; i++) a.write('a', 1_000);
    a.close();
    const s3 = adminClient(server);
    try {
      const shipper = startShipper(s3, 'once/', { once: true });
      const result = await shipper.done;
      const { recorder } = shipper;
      expect([...recorder.metrics.keys()].sort()).toEqual([...SHIP_LOGS_METRICS].sort());
      for (const def of METRICS.filter((m) => m.scope === 'ship-logs')) {
        expect(recorder.metrics.get(def.name)).toMatchObject({ unit: def.unit, kind: def.kind });
      }
      const objects = await shippedObjects(bucket.admin, bucket.name, 'once/');
      const inS3 = objects.flatMap((o) => o.lines);
      expect(inS3.sort()).toEqual(expectedLines({ a: 100_000 }));
      // Several batches (a read of the file's lines seals one past 64 KiB), so the counts are
      // sums, not one batch's.
      expect(objects.length).toBeGreaterThan(1);
      expect(recorder.read('LinesRead')).toBe(100_000);
      expect(recorder.read('LinesShipped')).toBe(inS3.length);
      expect(recorder.read('BatchesUploaded')).toBe(objects.length);
      expect(recorder.read('LinesDropped')).toBe(0);
      // Everything read is in S3: nothing waits, nothing ages.
      expect(recorder.read('SpoolBytes')).toBe(0);
      expect(recorder.read('OldestUnshippedSeconds')).toBe(0);
      expect(result.objects?.done).toBe(objects.length);
    } finally {
      s3.destroy();
    }
  });

  it('OldestUnshippedSeconds grows while S3 is down, SpoolBytes is the spool on disk, and both fall to 0 once S3 has the lines', async () => {
    const proxy = await startTcpProxy(server.endpoint);
    await proxy.stop();
    const s3 = adminClient(server, { endpoint: proxy.url, maxAttempts: 1 });
    const a = new LogWriter(join(logs, 'a.log'));
    let shipper: InProcessShipper | undefined;
    try {
      shipper = startShipper(s3, 'outage/');
      const { recorder } = shipper;
      await waitUntil('the metrics added', () => recorder.metrics.size > 0);
      expect(recorder.read('OldestUnshippedSeconds')).toBe(0);
      const beforeWrite = Date.now();
      for (let i = 0; i < 10; i++) a.write('a', 1_000);
      const written = a.written;
      // Every line sealed into the spool (no open batch left) while no upload can succeed.
      await waitUntil('every line spooled', () => spooledLines() === written);
      await waitUntil(
        'no open batch',
        () => !readdirSync(join(tmp, 'spool')).includes('open.data.tmp'),
      );
      const afterWrite = Date.now();
      expect(recorder.read('LinesRead')).toBe(written);
      expect(recorder.read('LinesShipped')).toBe(0);
      expect(recorder.read('BatchesUploaded')).toBe(0);
      expect(recorder.read('SpoolBytes')).toBe(spoolDataBytes());
      expect(recorder.read('SpoolBytes')).toBeGreaterThan(0);
      // The age of the first line read: between the writes' start and end, measured now.
      const first = recorder.read('OldestUnshippedSeconds')!;
      const firstAt = Date.now();
      expect(first * 1000).toBeGreaterThanOrEqual(firstAt - afterWrite - 5);
      expect(first * 1000).toBeLessThanOrEqual(firstAt - beforeWrite + 5);
      await sleep(1_500);
      const second = recorder.read('OldestUnshippedSeconds')!;
      const grewMs = Date.now() - firstAt;
      // It grows with the outage, by the time that passed.
      expect(second).toBeGreaterThan(first);
      expect(Math.abs((second - first) * 1000 - grewMs)).toBeLessThan(50);

      await proxy.start();
      await waitUntil(
        'every line shipped',
        () => recorder.read('LinesShipped') === written,
        90_000,
      );
      expect(recorder.read('OldestUnshippedSeconds')).toBe(0);
      expect(recorder.read('SpoolBytes')).toBe(0);
      const objects = await shippedObjects(bucket.admin, bucket.name, 'outage/');
      expect(recorder.read('BatchesUploaded')).toBe(objects.length);
      expect(objects.flatMap((o) => o.lines).length).toBe(written);
      shipper.test.stop();
      await shipper.done;
    } finally {
      a.close();
      shipper?.test.abort();
      await shipper?.done.catch(() => {});
      await proxy.stop().catch(() => {});
      s3.destroy();
    }
  });

  it('after a restart counts from 0, counts the spooled batches it ships, and the age of their lines goes on from the first run', async () => {
    const proxy = await startTcpProxy(server.endpoint);
    await proxy.stop();
    const s3 = adminClient(server, { endpoint: proxy.url, maxAttempts: 1 });
    const a = new LogWriter(join(logs, 'a.log'));
    let shipper: InProcessShipper | undefined;
    try {
      shipper = startShipper(s3, 'restart/');
      await waitUntil('the metrics added', () => shipper!.recorder.metrics.size > 0);
      const beforeWrite = Date.now();
      for (let i = 0; i < 10; i++) a.write('a', 1_000);
      const written = a.written;
      await waitUntil('every line spooled', () => spooledLines() === written);
      await waitUntil(
        'no open batch',
        () => !readdirSync(join(tmp, 'spool')).includes('open.data.tmp'),
      );
      const spooledAt = Date.now();
      const spooledBatches = readdirSync(join(tmp, 'spool')).filter((n) => /^\d+\.data$/.test(n));
      expect(shipper.recorder.read('LinesRead')).toBe(written);
      // Stopped with S3 still down: the drain deadline ends the run, the spool stays.
      shipper.test.stop();
      shipper.test.abort();
      await shipper.done.catch(() => {});
      // A second between the runs, so an age counted from the restart would be far smaller.
      await sleep(1_000);

      shipper = startShipper(s3, 'restart/');
      const { recorder } = shipper;
      await waitUntil('the metrics added', () => recorder.metrics.size > 0);
      const age = recorder.read('OldestUnshippedSeconds')!;
      const readAt = Date.now();
      // Counted from when the first run read the line, not from this start.
      expect(age * 1000).toBeGreaterThanOrEqual(readAt - spooledAt - 5);
      expect(age * 1000).toBeLessThanOrEqual(readAt - beforeWrite + 5);
      expect(recorder.read('LinesRead')).toBe(0);
      expect(recorder.read('LinesShipped')).toBe(0);
      await proxy.start();
      await waitUntil(
        'the spooled lines shipped',
        () => recorder.read('LinesShipped') === written,
        90_000,
      );
      shipper.test.stop();
      await shipper.done;
      // This run read nothing (the spooled batches' positions are past every line) and shipped
      // the first run's batches.
      expect(recorder.read('LinesRead')).toBe(0);
      expect(recorder.read('BatchesUploaded')).toBe(spooledBatches.length);
      expect(recorder.read('OldestUnshippedSeconds')).toBe(0);
      const got = await shippedLines(bucket.admin, bucket.name, 'restart/');
      expect(got).toEqual(expectedLines({ a: written }));
    } finally {
      a.close();
      shipper?.test.abort();
      await shipper?.done.catch(() => {});
      await proxy.stop().catch(() => {});
      s3.destroy();
    }
  });

  it('counts every dropped line with --on-spool-full drop: read = shipped + dropped', async () => {
    const proxy = await startTcpProxy(server.endpoint);
    await proxy.stop();
    const s3 = adminClient(server, { endpoint: proxy.url, maxAttempts: 1 });
    const a = new LogWriter(join(logs, 'a.log'));
    let shipper: InProcessShipper | undefined;
    try {
      shipper = startShipper(s3, 'drop/', { spoolMaxBytes: '16KiB', onSpoolFull: 'drop' });
      const { recorder } = shipper;
      await waitUntil('the metrics added', () => recorder.metrics.size > 0);
      for (let i = 0; i < 40; i++) {
        a.write('a', 1_000);
        await sleep(20);
      }
      const written = a.written;
      await waitUntil('every line read', () => recorder.read('LinesRead') === written);
      expect(recorder.read('LinesDropped')).toBeGreaterThan(0);
      await proxy.start();
      await waitUntil(
        'every kept line shipped',
        () => recorder.read('LinesShipped')! + recorder.read('LinesDropped')! === written,
        90_000,
      );
      shipper.test.stop();
      await shipper.done;
      const got = await shippedLines(bucket.admin, bucket.name, 'drop/');
      expect(recorder.read('LinesShipped')).toBe(got.length);
      expect(recorder.read('LinesDropped')).toBe(written - got.length);
    } finally {
      a.close();
      shipper?.test.abort();
      await shipper?.done.catch(() => {});
      await proxy.stop().catch(() => {});
      s3.destroy();
    }
  });

  it('takes keys and ndjson records from ctx.task', async () => {
    const a = new LogWriter(join(logs, 'a.log'));
    a.write('a', 10);
    a.close();
    const s3 = adminClient(server);
    try {
      const task: TaskMetadata = {
        ecs: true,
        hostname: 'ip-10-0-0-1',
        cluster: 'prod',
        clusterArn: 'arn:aws:ecs:eu-west-1:123456789012:cluster/prod',
        taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/prod/0123456789abcdef',
        taskId: '0123456789abcdef',
        family: 'web-app',
        revision: '3',
      };
      const keyTemplate = '{cluster}/{family}/{taskId}/{hostname}-{seq}{ext}';
      await startShipper(s3, 'ecs/', { once: true, format: 'ndjson', keyTemplate }, task).done;
      const [object] = await shippedObjects(bucket.admin, bucket.name, 'ecs/');
      expect(object?.key).toBe(
        'ecs/prod/web-app/0123456789abcdef/ip-10-0-0-1-0000000000.ndjson.gz',
      );
      expect(JSON.parse(object!.lines[0]!)).toMatchObject({
        hostname: 'ip-10-0-0-1',
        cluster: 'prod',
        family: 'web-app',
        taskId: '0123456789abcdef',
      });
      // The object names the task that wrote it, beside the batch's own records.
      const head = await bucket.admin.send(
        new HeadObjectCommand({ Bucket: bucket.name, Key: object!.key }),
      );
      expect(head.Metadata).toMatchObject({
        's3worker-ecs-task-arn': task.taskArn,
        's3worker-ecs-task-definition': 'web-app:3',
        's3worker-lines': '10',
      });
      // Outside ECS: `none` and the host name, and records without the ECS fields.
      const b = new LogWriter(join(logs, 'b.log'));
      b.write('b', 1);
      b.close();
      rmSync(join(tmp, 'spool'), { recursive: true, force: true });
      rmSync(join(logs, 'a.log'));
      await startShipper(s3, 'local/', { once: true, format: 'ndjson', keyTemplate }).done;
      const [local] = await shippedObjects(bucket.admin, bucket.name, 'local/');
      expect(local?.key).toBe('local/none/none/test-host/test-host-0000000000.ndjson.gz');
      expect(Object.keys(JSON.parse(local!.lines[0]!))).toEqual([
        'timestamp',
        'file',
        'message',
        'hostname',
      ]);
      const localHead = await bucket.admin.send(
        new HeadObjectCommand({ Bucket: bucket.name, Key: local!.key }),
      );
      expect(Object.keys(localHead.Metadata ?? {}).filter((k) => k.includes('ecs'))).toEqual([]);
    } finally {
      s3.destroy();
    }
  });
});

/** `s3worker run ship-logs` on `logs/*.log` (through `proxy` when given) with metric lines every second. */
function startCliShipper(prefix: string, extra: string[], proxy?: TcpProxy): CliProcess {
  claimPrefix(prefix);
  return startCli(
    [
      'run',
      'ship-logs',
      '--path',
      join(logs, '*.log'),
      '--output',
      `s3://${bucket.name}/${prefix}`,
      '--start-at',
      'beginning',
      '--max-batch-bytes',
      '64KiB',
      '--max-batch-age',
      '300ms',
      '--poll-interval',
      '50ms',
      '--compression-level',
      '1',
      '--spool-dir',
      join(tmp, 'spool'),
      '--metrics-interval',
      '1s',
      ...extra,
    ],
    {
      env: workerEnv(
        server,
        tmp,
        proxy ? { S3WORKER_ENDPOINT: proxy.url, AWS_MAX_ATTEMPTS: '1' } : {},
      ),
    },
  );
}

describe('ship-logs metric lines from the CLI (--metrics emf)', () => {
  it('sum over the run to what is in S3: LinesShipped to the lines in the objects, LinesRead to the lines written, BatchesUploaded to the objects', async () => {
    const a = new LogWriter(join(logs, 'a.log'));
    const b = new LogWriter(join(logs, 'b.log'));
    try {
      const shipper = startCliShipper('cli/', ['--metrics', 'emf']);
      await shipper.waitForLog('ship-logs starting');
      // Lines over about four seconds, so several interval lines carry a part of the counts.
      for (let step = 0; step < 40; step++) {
        a.write('a', 300);
        b.write('b', 200);
        await sleep(100);
      }
      await shipper.waitForLog('metrics', 10_000, (l) => Number(l.LinesShipped) > 0);
      shipper.child.kill('SIGTERM');
      const result = await shipper.done;
      expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
      const lines = metricLines(result.logs);
      for (const line of lines) expect(emfProblems(line)).toEqual([]);
      // Interval lines and the summary: the totals are sums over several lines.
      expect(lines.filter((l) => l.msg === 'metrics').length).toBeGreaterThan(1);
      expect(lines.filter((l) => (l.LinesRead as number) > 0).length).toBeGreaterThan(1);
      expect(lines.at(-1)).toMatchObject({ msg: 'summary', Job: 'ship-logs' });
      const objects = await shippedObjects(bucket.admin, bucket.name, 'cli/');
      const inS3 = objects.flatMap((o) => o.lines);
      expect(inS3.sort()).toEqual(expectedLines({ a: a.written, b: b.written }));
      expect(metricSum(result.logs, 'LinesShipped')).toBe(inS3.length);
      expect(metricSum(result.logs, 'LinesRead')).toBe(a.written + b.written);
      expect(metricSum(result.logs, 'BatchesUploaded')).toBe(objects.length);
      expect(metricSum(result.logs, 'LinesDropped')).toBe(0);
      // Everything shipped at the end: no spool, nothing aging.
      expect(lines.at(-1)).toMatchObject({ SpoolBytes: 0, OldestUnshippedSeconds: 0 });
    } finally {
      a.close();
      b.close();
    }
  });

  it('with a full spool and dropping: LinesDropped sums to the lines not in S3, and OldestUnshippedSeconds climbs while S3 is down', async () => {
    const proxy = await startTcpProxy(server.endpoint);
    await proxy.stop();
    const a = new LogWriter(join(logs, 'a.log'));
    try {
      const shipper = startCliShipper(
        'cli-drop/',
        ['--metrics', 'emf', '--spool-max-bytes', '16KiB', '--on-spool-full', 'drop'],
        proxy,
      );
      await shipper.waitForLog('ship-logs starting');
      const dropping = shipper.waitForLog('spool full: dropping lines', 60_000);
      for (let step = 0; step < 40; step++) {
        a.write('a', 1_000);
        await sleep(20);
      }
      await dropping;
      // Three interval lines with S3 still down after the spool filled.
      const during = await waitForMetricLines(shipper, 3);
      await proxy.start();
      await shipper.waitForLog('batch uploaded', 90_000);
      await shipper.waitForLog('metrics', 30_000, (l) => l.OldestUnshippedSeconds === 0);
      shipper.child.kill('SIGTERM');
      const result = await shipper.done;
      expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
      for (const line of metricLines(result.logs)) expect(emfProblems(line)).toEqual([]);
      const ages = during.map((l) => l.OldestUnshippedSeconds as number);
      expect(ages[0]).toBeGreaterThan(0);
      for (let i = 1; i < ages.length; i++) expect(ages[i]).toBeGreaterThan(ages[i - 1]!);
      for (const l of during) expect(l.SpoolBytes).toBeGreaterThan(0);
      const got = await shippedLines(bucket.admin, bucket.name, 'cli-drop/');
      expect([...repeatedLines(got)].slice(0, 10)).toEqual([]);
      const dropped = metricSum(result.logs, 'LinesDropped');
      expect(dropped).toBeGreaterThan(0);
      expect(dropped).toBe(a.written - got.length);
      expect(metricSum(result.logs, 'LinesShipped')).toBe(got.length);
      expect(metricSum(result.logs, 'LinesRead')).toBe(a.written);
    } finally {
      a.close();
      await proxy.stop().catch(() => {});
    }
  });

  it('--metrics off writes no line with _aws', async () => {
    const a = new LogWriter(join(logs, 'a.log'));
    a.write('a', 1_000);
    a.close();
    const shipper = startCliShipper('off/', ['--metrics', 'off', '--once']);
    const result = await shipper.done;
    expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
    expect(await shippedLines(bucket.admin, bucket.name, 'off/')).toHaveLength(1_000);
    expect(result.logs.length).toBeGreaterThan(0);
    expect(result.logs.filter((l) => '_aws' in l)).toEqual([]);
    expect(result.stdout).not.toContain('"_aws"');
  });
});

/** Waits for `count` more interval metric lines than the process has written so far; returns them. */
async function waitForMetricLines(
  shipper: CliProcess,
  count: number,
): Promise<Array<Record<string, unknown>>> {
  const got: Array<Record<string, unknown>> = [];
  const after = Date.now();
  for (let i = 0; i < count; i++) {
    const line = await shipper.waitForLog(
      'metrics',
      10_000,
      (l) => Date.parse(String(l.time)) > after && !got.includes(l),
    );
    got.push(line);
  }
  return got;
}
