import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { metricsOptionsSchema } from '../../src/config/metrics-options.js';
import type { JobMetric } from '../../src/jobs/job-metrics.js';
import type { TaskMetadata } from '../../src/jobs/task-metadata.js';
import { emfMembers } from '../../src/runtime/metrics/emf.js';
import { metricsEnabled, RunMetrics } from '../../src/runtime/metrics/run-metrics.js';
import { ProgressTracker } from '../../src/runtime/progress-tracker.js';
import { RequestCounts } from '../../src/s3/request-counts.js';
import { emfProblems, metricSum } from '../support/emf.js';

const local: TaskMetadata = { ecs: false, hostname: 'h' };
const onEcs: TaskMetadata = {
  ecs: true,
  hostname: 'h',
  cluster: 'prod',
  family: 's3worker-db-backup',
  revision: '7',
};

function setup(task: TaskMetadata = local, extra: Record<string, string> = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _e, done) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
        done();
      },
    }),
  );
  const tracker = new ProgressTracker();
  const counts = new RequestCounts();
  const options = metricsOptionsSchema.parse({ metrics: 'emf', metricsDimension: extra });
  const metrics = new RunMetrics({ options, jobName: 'db-backup', task, tracker, counts, log });
  return { lines, log, tracker, counts, metrics };
}

describe('RunMetrics', () => {
  it('counts in each line are what happened since the previous line, so the lines sum to the totals; gauges are levels', () => {
    const { tracker, counts, metrics } = setup();
    let spool = 10;
    let read = 0;
    const own: JobMetric[] = [
      { name: 'LinesRead', unit: 'Count', kind: 'count', read: () => read },
      { name: 'SpoolBytes', unit: 'Bytes', kind: 'gauge', read: () => spool },
    ];
    tracker.addMetrics(own);
    const lines: Array<Record<string, unknown>> = [];
    tracker.addBytesOut(100);
    tracker.objectDone('done');
    read = 5;
    counts.retries = 2;
    lines.push(metrics.intervalMembers());
    tracker.addBytesOut(50);
    tracker.objectDone('failed');
    read = 12;
    spool = 3;
    counts.retries = 3;
    counts.answered(503);
    lines.push(metrics.intervalMembers());
    lines.push(metrics.summaryMembers({ exitCode: 3, durationMs: 1234, result: undefined }));
    expect(lines.map((l) => l.BytesOut)).toEqual([100, 50, 0]);
    expect(lines.map((l) => l.LinesRead)).toEqual([5, 7, 0]);
    expect(lines.map((l) => l.SpoolBytes)).toEqual([10, 3, 3]);
    expect(metricSum(lines, 'ObjectsFailed')).toBe(1);
    expect(metricSum(lines, 'Retries')).toBe(3);
    expect(metricSum(lines, 'Throttled')).toBe(1);
    // Only the summary says how the run ended.
    expect(lines.map((l) => l.Success)).toEqual([undefined, undefined, 0]);
    expect(lines[2]).toMatchObject({ ExitCode: 3, Duration: 1234 });
    for (const l of lines) expect(emfProblems(l)).toEqual([]);
  });

  it("the summary takes the job's own totals where it returned them", () => {
    const { tracker, metrics } = setup();
    tracker.addBytesIn(10);
    const first = metrics.intervalMembers();
    const last = metrics.summaryMembers({
      exitCode: 0,
      durationMs: 1,
      result: { objects: { done: 4, skipped: 1, failed: 0 }, bytesIn: 25, bytesOut: 30 },
    });
    expect((first.BytesIn as number) + (last.BytesIn as number)).toBe(25);
    expect(last).toMatchObject({ ObjectsDone: 4, ObjectsSkipped: 1, BytesOut: 30, Success: 1 });
  });

  it('publishes under [Job] off ECS, and [Job], [Job, Family], [Job, Cluster] on ECS, each extra dimension joining every set', () => {
    const off = setup(local, { Environment: 'prod' }).metrics.intervalMembers();
    expect(
      (off._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][] }> }).CloudWatchMetrics[0]
        ?.Dimensions,
    ).toEqual([['Job', 'Environment']]);
    expect(off).toMatchObject({ Job: 'db-backup', Environment: 'prod' });
    expect(off.Family).toBeUndefined();
    const on = setup(onEcs).metrics.intervalMembers();
    const directive = (on._aws as { CloudWatchMetrics: Array<Record<string, unknown>> })
      .CloudWatchMetrics[0];
    expect(directive?.Namespace).toBe('S3Worker');
    expect(directive?.Dimensions).toEqual([['Job'], ['Job', 'Family'], ['Job', 'Cluster']]);
    // The family without its revision: a new revision must not start new metrics.
    expect(on).toMatchObject({ Job: 'db-backup', Family: 's3worker-db-backup', Cluster: 'prod' });
    expect(emfProblems(on)).toEqual([]);
  });

  it('leaves out, with one warning each, a job metric whose name is taken, a dimension, or malformed; and one whose read fails', () => {
    const { tracker, metrics, lines } = setup();
    tracker.addMetrics([
      { name: 'BytesOut', unit: 'Bytes', kind: 'count', read: () => 1 },
      { name: 'Job', unit: 'Count', kind: 'count', read: () => 1 },
      { name: 'msg', unit: 'Count', kind: 'count', read: () => 1 },
      {
        name: 'Broken',
        unit: 'Count',
        kind: 'count',
        read: () => {
          throw new Error('no');
        },
      },
      { name: 'Fine', unit: 'Count', kind: 'gauge', read: () => 7 },
      { name: 'NotYet', unit: 'Seconds', kind: 'gauge', read: () => undefined },
    ]);
    const a = metrics.intervalMembers();
    metrics.intervalMembers();
    expect(a.Fine).toBe(7);
    expect(a.msg).toBeUndefined();
    expect(a.Job).toBe('db-backup');
    expect('NotYet' in a).toBe(false);
    expect(emfProblems(a)).toEqual([]);
    const warned = lines.filter((l) => l.level === 40).map((l) => l.metric);
    expect(warned.sort()).toEqual(['Broken', 'BytesOut', 'Job', 'msg']);
  });

  it('splits more than 100 metrics into directives of at most 100', () => {
    const metrics = Array.from({ length: 150 }, (_, i) => ({
      name: `M${i}`,
      unit: 'Count' as const,
      value: i,
    }));
    const line = emfMembers({
      namespace: 'S3Worker',
      dimensionSets: [['Job']],
      dimensions: { Job: 'x' },
      metrics,
      timestamp: 1,
    });
    const directives = (line._aws as { CloudWatchMetrics: Array<{ Metrics: unknown[] }> })
      .CloudWatchMetrics;
    expect(directives.map((d) => d.Metrics.length)).toEqual([100, 50]);
    expect(emfProblems(line)).toEqual([]);
  });

  it('is on with emf, off with off, and with auto only when the ECS metadata variable is set', () => {
    expect(metricsEnabled('emf', {})).toBe(true);
    expect(metricsEnabled('off', { ECS_CONTAINER_METADATA_URI_V4: 'http://x' })).toBe(false);
    expect(metricsEnabled('auto', {})).toBe(false);
    expect(metricsEnabled('auto', { ECS_CONTAINER_METADATA_URI_V4: 'http://x' })).toBe(true);
  });
});

describe('the EMF check', () => {
  it('refuses lines that break the specification', () => {
    const good = emfMembers({
      namespace: 'S3Worker',
      dimensionSets: [['Job']],
      dimensions: { Job: 'x' },
      metrics: [{ name: 'A', unit: 'Count', value: 1 }],
      timestamp: 1,
    });
    expect(emfProblems(good)).toEqual([]);
    expect(emfProblems({ ...good, A: 'one' })).not.toEqual([]);
    expect(emfProblems({ ...good, Job: undefined })).not.toEqual([]);
    const badUnit = structuredClone(good) as {
      _aws: { CloudWatchMetrics: Array<{ Metrics: Array<{ Unit: string }> }> };
    };
    badUnit._aws.CloudWatchMetrics[0]!.Metrics[0]!.Unit = 'Lines';
    expect(emfProblems(badUnit)).not.toEqual([]);
    const manyDims = structuredClone(good) as {
      _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][] }> };
    };
    manyDims._aws.CloudWatchMetrics[0]!.Dimensions = [
      Array.from({ length: 31 }, (_, i) => `D${i}`),
    ];
    expect(emfProblems(manyDims)).not.toEqual([]);
  });
});
