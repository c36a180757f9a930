import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { putObjects } from '../fixtures/stream-transform/harness.js';
import { emfProblems, metricLines, metricSum } from '../support/emf.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { runCli, workerEnv } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';
import {
  FARGATE_CONTAINER,
  FARGATE_TASK,
  serveTaskMetadata,
} from '../support/task-metadata-endpoint.js';

const server = inject('servers').s3;
let tmp: string;
let s3: S3Client;
let bucket: { name: string; remove: () => Promise<void> };

beforeAll(async () => {
  s3 = adminClient(server);
  bucket = await createTestBucket(s3, 'metrics');
});
afterAll(async () => {
  await bucket?.remove();
  s3?.destroy();
});
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-metrics-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Sizes of the outputs under `prefix`, listed from the server (not the run's own records). */
async function sizesUnder(prefix: string): Promise<number[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket.name, Prefix: prefix }));
  return (out.Contents ?? [])
    .filter((o) => !o.Key?.startsWith(`${prefix}_s3worker/`))
    .map((o) => o.Size ?? 0);
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** `count` gzip inputs of different sizes under `prefix`, plus `broken` that are not gzip. */
async function gzipInputs(prefix: string, count: number, broken = 0): Promise<number[]> {
  const objects = [
    ...Array.from({ length: count }, (_, i) => ({
      key: `${prefix}ok-${i}.gz`,
      body: gzipSync(`line ${i}\n`.repeat(50 + i * 37)),
    })),
    ...Array.from({ length: broken }, (_, i) => ({
      key: `${prefix}broken-${i}.gz`,
      body: Buffer.from(`\x1f\x8bnot deflate ${i}`),
    })),
  ];
  await putObjects(s3, bucket.name, objects);
  return objects.map((o) => o.body.length);
}

describe('metrics of a stream-transform run (EMF lines)', () => {
  it('each count equals what the run did, read back from the server and the failure report', async () => {
    const inputSizes = await gzipInputs('mixed/', 7, 2);
    const report = join(tmp, 'failures.json');
    const r = await runCli(
      [
        'run',
        'stream-transform',
        '--input',
        `s3://${bucket.name}/mixed/`,
        '--output',
        `s3://${bucket.name}/mixed-out/`,
        '--transform',
        'gunzip',
        '--failure-report',
        report,
        '--metrics',
        'emf',
      ],
      { env: workerEnv(server, tmp) },
    );
    expect(r.code).toBe(ExitCode.ObjectsFailed);
    const lines = metricLines(r.logs);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(emfProblems(line)).toEqual([]);
    const summary = r.logs.find((l) => l.msg === 'summary');
    expect(summary?._aws).toBeDefined();
    // A metric line is a log line like the others: the same base fields.
    expect(summary).toMatchObject({ job: 'stream-transform', level: 'info' });
    expect(typeof summary?.runId).toBe('string');

    const outputs = await sizesUnder('mixed-out/');
    expect(outputs).toHaveLength(7);
    expect(metricSum(r.logs, 'BytesOut')).toBe(sum(outputs));
    // Bytes read: every good input whole, and of the broken ones at most all.
    const bytesIn = metricSum(r.logs, 'BytesIn');
    expect(bytesIn).toBe(summary?.bytesIn);
    expect(bytesIn).toBeGreaterThanOrEqual(sum(inputSizes.slice(0, 7)));
    expect(bytesIn).toBeLessThanOrEqual(sum(inputSizes));
    expect(metricSum(r.logs, 'ObjectsDone')).toBe(outputs.length);
    const failures = JSON.parse(readFileSync(report, 'utf8')) as { failed: number };
    expect(failures.failed).toBe(2);
    expect(metricSum(r.logs, 'ObjectsFailed')).toBe(failures.failed);
    expect(summary).toMatchObject({ Success: 0, ExitCode: r.code, Job: 'stream-transform' });
    expect(summary?.Duration).toBe(summary?.durationMs);
  });

  it('writes no metric line with --metrics off, nor by default off ECS', async () => {
    await gzipInputs('quiet/', 2);
    for (const extra of [['--metrics', 'off'], []]) {
      const r = await runCli(
        [
          'run',
          'stream-transform',
          '--input',
          `s3://${bucket.name}/quiet/`,
          '--output',
          `s3://${bucket.name}/quiet-out-${extra.length}/`,
          ...extra,
        ],
        { env: workerEnv(server, tmp) },
      );
      expect(r.code).toBe(ExitCode.Success);
      expect(r.logs.some((l) => l.msg === 'summary')).toBe(true);
      expect(metricLines(r.logs)).toEqual([]);
    }
  });

  describe('through a proxy that answers 503 SlowDown', () => {
    let proxy: FaultProxy;
    beforeAll(async () => {
      proxy = await startFaultProxy(server.endpoint);
    });
    afterAll(async () => {
      await proxy?.close();
    });

    it('Throttled equals the 503s the proxy answered, and Retries the requests sent again', async () => {
      await gzipInputs('slow/', 12);
      let n = 0;
      // Every third object request is refused once; a retry of it goes through.
      proxy.setRule((req) =>
        (req.action === 'GetObject' || req.action === 'PutObject') && ++n % 3 === 0
          ? { kind: 'status', status: 503, code: 'SlowDown' }
          : undefined,
      );
      proxy.resetCounts();
      const r = await runCli(
        [
          'run',
          'stream-transform',
          '--input',
          `s3://${bucket.name}/slow/`,
          '--output',
          `s3://${bucket.name}/slow-out/`,
          '--metrics',
          'emf',
        ],
        { env: { ...workerEnv(server, tmp), S3WORKER_ENDPOINT: proxy.endpoint } },
      );
      proxy.setRule(undefined);
      expect(r.code).toBe(ExitCode.Success);
      const slowDowns = proxy.faults.get('status') ?? 0;
      expect(slowDowns).toBeGreaterThan(0);
      expect(metricSum(r.logs, 'Throttled')).toBe(slowDowns);
      // Nothing else failed, so every request sent again was sent again after a 503.
      expect(metricSum(r.logs, 'Retries')).toBe(slowDowns);
      expect(metricSum(r.logs, 'ObjectsDone')).toBe(12);
    });
  });

  it('on ECS (a served task metadata endpoint) metrics are on by default, with Family and Cluster, and every log line names the task', async () => {
    await gzipInputs('ecs/', 2);
    const endpoint = await serveTaskMetadata();
    try {
      const r = await runCli(
        [
          'run',
          'stream-transform',
          '--input',
          `s3://${bucket.name}/ecs/`,
          '--output',
          `s3://${bucket.name}/ecs-out/`,
          '--metrics-dimension',
          'Environment=test',
        ],
        { env: { ...workerEnv(server, tmp), ECS_CONTAINER_METADATA_URI_V4: endpoint.uri } },
      );
      expect(r.code).toBe(ExitCode.Success);
      const summary = r.logs.find((l) => l.msg === 'summary');
      expect(summary).toMatchObject({
        Job: 'stream-transform',
        Family: FARGATE_TASK.Family,
        Cluster: FARGATE_TASK.Cluster.split('/').at(-1),
        Environment: 'test',
      });
      const aws = summary?._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][] }> };
      expect(aws.CloudWatchMetrics[0]?.Dimensions).toEqual([
        ['Job', 'Environment'],
        ['Job', 'Family', 'Environment'],
        ['Job', 'Cluster', 'Environment'],
      ]);
      expect(emfProblems(summary ?? {})).toEqual([]);
      // The outputs name the task that wrote them.
      const head = await s3.send(
        new HeadObjectCommand({ Bucket: bucket.name, Key: 'ecs-out/ok-0.gz' }),
      );
      expect(head.Metadata).toMatchObject({
        's3worker-ecs-task-arn': FARGATE_TASK.TaskARN,
        's3worker-ecs-task-definition': `${FARGATE_TASK.Family}:${FARGATE_TASK.Revision}`,
      });
      const runLines = r.logs.filter((l) => l.runId !== undefined);
      expect(runLines.length).toBeGreaterThan(2);
      for (const line of runLines) {
        expect(line.ecs).toEqual({
          cluster: FARGATE_TASK.Cluster.split('/').at(-1),
          taskArn: FARGATE_TASK.TaskARN,
          family: `${FARGATE_TASK.Family}:${FARGATE_TASK.Revision}`,
          container: FARGATE_CONTAINER.Name,
          availabilityZone: FARGATE_TASK.AvailabilityZone,
          launchType: FARGATE_TASK.LaunchType,
        });
      }
    } finally {
      await endpoint.close();
    }
  });
});
