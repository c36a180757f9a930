import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BackupMetrics } from '../../src/jobs/db-backup/backup-metrics.js';
import { lastGoodBackup } from '../../src/jobs/db-backup/last-good-backup.js';
import {
  MANIFEST_FORMAT,
  type Manifest,
  manifestTask,
  parseManifest,
} from '../../src/jobs/db-backup/manifest.js';
import { RestoreMetrics } from '../../src/jobs/db-restore/restore-metrics.js';
import { type JobMetric, METRICS } from '../../src/jobs/job-metrics.js';
import type { S3Sender } from '../../src/s3/s3-sender.js';
import { recordingReporter } from '../support/recording-reporter.js';

const read = (r: { metrics: Map<string, JobMetric> }, name: string) => r.metrics.get(name)?.read();

describe('db-backup metrics', () => {
  it('reports the catalogue four, with their units and kinds', () => {
    const r = recordingReporter();
    new BackupMetrics().report(r);
    const defs = METRICS.filter((m) => m.scope === 'db-backup');
    expect([...r.metrics.values()].map(({ name, unit, kind }) => ({ name, unit, kind }))).toEqual(
      defs.map(({ name, unit, kind }) => ({ name, unit, kind })),
    );
  });

  it('counts dump and stored bytes as they grow; the dump time and the age only once the run ended', () => {
    let now = 1_000_000;
    const metrics = new BackupMetrics(() => now);
    const r = recordingReporter();
    metrics.report(r);
    metrics.dumpBytes += 700;
    metrics.storedBytes += 120;
    metrics.dumped(1_500);
    metrics.dumped(250);
    expect(read(r, 'DumpBytes')).toBe(700);
    expect(read(r, 'StoredBytes')).toBe(120);
    expect(read(r, 'DumpSeconds')).toBeUndefined();
    expect(read(r, 'LastGoodBackupAgeSeconds')).toBeUndefined();

    metrics.end(now - 90_000);
    expect(read(r, 'DumpSeconds')).toBe(1.75);
    expect(read(r, 'LastGoodBackupAgeSeconds')).toBe(90);
    // Read at the summary line: the age at that line's time.
    now += 2_000;
    expect(read(r, 'LastGoodBackupAgeSeconds')).toBe(92);
  });

  it('leaves the age out when no good backup is known, and the dump time when nothing was dumped', () => {
    const metrics = new BackupMetrics();
    const r = recordingReporter();
    metrics.report(r);
    metrics.end(undefined);
    expect(read(r, 'LastGoodBackupAgeSeconds')).toBeUndefined();
    expect(read(r, 'DumpSeconds')).toBeUndefined();
    expect(read(r, 'DumpBytes')).toBe(0);
  });

  it('takes the databases this run backed up from the run, without a request, and the oldest of them', async () => {
    const noRequests: S3Sender = {
      send: () => Promise.reject(new Error('no request expected')),
    };
    const found = await lastGoodBackup(noRequests, {
      bucket: 'b',
      prefix: 'db/',
      keyTemplate: '{engine}/{database}/{timestamp}.{ext}',
      engine: 'postgres',
      databases: ['app', 'crm'],
      exclude: [],
      made: new Map([
        ['app', 5_000],
        ['crm', 3_000],
      ]),
      signal: new AbortController().signal,
      log: pino({ level: 'silent' }),
    });
    expect(found).toEqual({ at: 3_000, database: 'crm' });
  });
});

describe('db-restore metrics', () => {
  it('reports verified bytes as counted and the restore time once it finished', () => {
    const metrics = new RestoreMetrics();
    const r = recordingReporter();
    metrics.report(r);
    expect([...r.metrics.keys()]).toEqual(
      METRICS.filter((m) => m.scope === 'db-restore').map((m) => m.name),
    );
    expect(read(r, 'VerifiedBytes')).toBe(0);
    expect(read(r, 'RestoreSeconds')).toBeUndefined();
    metrics.verifiedBytes += 4096;
    metrics.restored(2_500);
    expect(read(r, 'VerifiedBytes')).toBe(4096);
    expect(read(r, 'RestoreSeconds')).toBe(2.5);
  });
});

describe('the task in the backup manifest', () => {
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    engine: 'postgres',
    database: 'app',
    kind: 'database',
    dumpFormat: 'custom',
    bucket: 'b',
    key: 'db/postgres/app/20260131T031500.412Z.dump.zst',
    serverVersion: '15.18',
    serverMajor: 15,
    dumpTool: 'pg_dump',
    dumpToolVersion: '15.18',
    dumpToolMajor: 15,
    startedAt: '2026-01-31T03:15:00.412Z',
    finishedAt: '2026-01-31T03:16:00.000Z',
    rawBytes: 1000,
    storedBytes: 300,
    sha256: 'a'.repeat(64),
    compression: 'zstd',
    encryption: null,
    etag: '"e"',
    s3workerVersion: '0.1.0',
    runId: 'r',
  };

  it('carries cluster, task ARN, family:revision, container, zone and launch type on ECS; nothing off ECS', () => {
    expect(
      manifestTask({
        ecs: true,
        hostname: 'ip-10-0-0-1',
        cluster: 'prod',
        clusterArn: 'arn:aws:ecs:us-west-2:111122223333:cluster/prod',
        taskArn: 'arn:aws:ecs:us-west-2:111122223333:task/prod/abc',
        taskId: 'abc',
        family: 'db-backup',
        revision: '7',
        container: 's3worker',
        availabilityZone: 'us-west-2a',
        launchType: 'FARGATE',
      }),
    ).toEqual({
      cluster: 'prod',
      taskArn: 'arn:aws:ecs:us-west-2:111122223333:task/prod/abc',
      taskDefinition: 'db-backup:7',
      container: 's3worker',
      availabilityZone: 'us-west-2a',
      launchType: 'FARGATE',
    });
    expect(manifestTask({ ecs: true, hostname: 'h', cluster: 'prod' })).toEqual({
      cluster: 'prod',
    });
    expect(manifestTask({ ecs: false, hostname: 'laptop' })).toBeUndefined();
  });

  it('reads manifests written before the task was recorded, and those with it', () => {
    expect(parseManifest(JSON.stringify(manifest)).manifest).toEqual(manifest);
    const task = { cluster: 'prod', taskDefinition: 'db-backup:7', launchType: 'FARGATE' };
    expect(parseManifest(JSON.stringify({ ...manifest, task })).manifest?.task).toEqual(task);
  });
});
