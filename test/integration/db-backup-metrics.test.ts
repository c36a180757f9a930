import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { zstdDecompressSync } from 'node:zlib';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { allOutput, backupsUnder, messages } from '../fixtures/db-backup/backup-harness.js';
import { useEngineRun } from '../fixtures/db-backup/engine-run.js';
import { PgAdmin } from '../fixtures/db-backup/sql-harness.js';
import { getBytes } from '../fixtures/stream-transform/harness.js';
import { emfProblems, metricLines, metricSum } from '../support/emf.js';
import { type CliResult, runCli } from '../support/run-cli.js';
import { useTestBucket } from '../support/test-bucket.js';

const servers = inject('servers');
const pg = new PgAdmin(servers.postgres);
const bucket = useTestBucket(servers.s3, 'dbb-metrics');
const { newDatabase, newName, env, backupArgs, restoreArgs } = useEngineRun(
  'postgres',
  pg,
  servers.s3,
  bucket,
);

/** The run's summary line, which carries the metrics known at the end. */
function summaryOf(r: CliResult): Record<string, unknown> {
  const summary = r.logs.find((l) => l.msg === 'summary');
  expect(summary, allOutput(r)).toBeDefined();
  return summary!;
}

/** Every metric line of the run is valid EMF. */
function expectValidEmf(r: CliResult): void {
  const lines = metricLines(r.logs);
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) expect(emfProblems(line)).toEqual([]);
}

/** Seconds from a manifest's `finishedAt` to the summary line's time. */
function ageAtSummary(summary: Record<string, unknown>, finishedAt: string): number {
  return (Date.parse(summary.time as string) - Date.parse(finishedAt)) / 1000;
}

describe('db-backup and db-restore metrics (--metrics emf)', () => {
  it('backup: DumpBytes is the decompressed dump, StoredBytes the stored object; a failed run reports the previous good backup age', async () => {
    const source = await newDatabase('dbb_metrics');
    await pg.seed(source, 1);
    const prefix = 'metrics/';

    const good = await runCli(backupArgs(prefix, `--database=${source}`, '--metrics', 'emf'), {
      env: env(),
    });
    expect(good.code, allOutput(good)).toBe(ExitCode.Success);
    expectValidEmf(good);
    const { objects, manifests } = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(objects).toHaveLength(1);
    const stored = await getBytes(bucket.admin, bucket.name, objects[0]!);
    expect(metricSum(good.logs, 'StoredBytes')).toBe(stored.length);
    expect(metricSum(good.logs, 'DumpBytes')).toBe(zstdDecompressSync(stored).length);
    const summary = summaryOf(good);
    expect(summary.Success).toBe(1);
    expect(summary.DumpSeconds).toBeGreaterThan(0);
    // Its own backup: the age is the few moments between the manifest and the summary.
    const finishedAt = manifests[0]!.finishedAt;
    expect(summary.LastGoodBackupAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(
      Math.abs((summary.LastGoodBackupAgeSeconds as number) - ageAtSummary(summary, finishedAt)),
    ).toBeLessThan(2);

    // The same database with a wrong password: no new backup, the age is the first one's.
    const failed = await runCli(backupArgs(prefix, `--database=${source}`, '--metrics', 'emf'), {
      env: env({ PGPASSWORD: 'Wrong-Pa55word-For-The-Test' }),
    });
    expect(failed.code, allOutput(failed)).not.toBe(ExitCode.Success);
    expect(allOutput(failed)).toMatch(/password authentication failed/);
    expectValidEmf(failed);
    const after = summaryOf(failed);
    expect(after.Success).toBe(0);
    expect(typeof after.LastGoodBackupAgeSeconds, allOutput(failed)).toBe('number');
    expect(
      Math.abs((after.LastGoodBackupAgeSeconds as number) - ageAtSummary(after, finishedAt)),
    ).toBeLessThan(2);
    expect(metricSum(failed.logs, 'StoredBytes')).toBe(0);
    expect((await backupsUnder(bucket.admin, bucket.name, prefix)).objects).toHaveLength(1);
  });

  it('backup: a database that never had a good backup leaves LastGoodBackupAgeSeconds out and says why', async () => {
    const missing = newName('dbb_never');
    const r = await runCli(backupArgs('never/', `--database=${missing}`, '--metrics', 'emf'), {
      env: env(),
    });
    expect(r.code, allOutput(r)).not.toBe(ExitCode.Success);
    expectValidEmf(r);
    const summary = summaryOf(r);
    expect(summary.Success).toBe(0);
    expect(summary).not.toHaveProperty('LastGoodBackupAgeSeconds');
    const why = r.logs.find(
      (l) => l.msg === 'no good backup of some database: LastGoodBackupAgeSeconds left out',
    );
    expect(why?.databases).toEqual([missing]);
  });

  it('backup: a catalogue that cannot be read either leaves the age out, says why, and the run still fails with its own error', async () => {
    const source = await newDatabase('dbb_nocat');
    // A bucket nobody made: the dump fails on the password first, then the catalogue read fails.
    const gone = `dbb-metrics-missing-${randomBytes(4).toString('hex')}`;
    const args = backupArgs('x/', `--database=${source}`, '--metrics', 'emf').map((a) =>
      a === `s3://${bucket.name}/x/` ? `s3://${gone}/x/` : a,
    );
    const r = await runCli(args, { env: env({ PGPASSWORD: 'Wrong-Pa55word-For-The-Test' }) });
    expect(r.code, allOutput(r)).toBe(ExitCode.ObjectsFailed);
    const summary = summaryOf(r);
    expect(summary.Success).toBe(0);
    expect(summary).not.toHaveProperty('LastGoodBackupAgeSeconds');
    expect(messages(r)).toContain(
      'cannot read the backup catalogue: LastGoodBackupAgeSeconds left out',
    );
    const runError = r.logs.filter((l) => l.level === 'error').map((l) => JSON.stringify(l));
    expect(runError.join('\n')).toMatch(/password authentication failed/);
    expect(runError.join('\n')).not.toMatch(/NoSuchBucket|does not exist/);
  });

  it('restore: VerifiedBytes is the stored object, RestoreSeconds is reported once the restore finished', async () => {
    const source = await newDatabase('dbb_metrics_r');
    await pg.seed(source, 1);
    const prefix = 'metrics-restore/';
    const backup = await runCli(backupArgs(prefix, `--database=${source}`), { env: env() });
    expect(backup.code, allOutput(backup)).toBe(ExitCode.Success);
    const { objects } = await backupsUnder(bucket.admin, bucket.name, prefix);
    const stored = await getBytes(bucket.admin, bucket.name, objects[0]!);

    const target = newName('dbb_metrics_dst');
    const restore = await runCli(
      restoreArgs(
        prefix,
        `--from-database=${source}`,
        `--database=${target}`,
        '--create-database',
        '--metrics',
        'emf',
      ),
      { env: env() },
    );
    expect(restore.code, allOutput(restore)).toBe(ExitCode.Success);
    expect(messages(restore)).toContain('restore finished');
    expectValidEmf(restore);
    expect(metricSum(restore.logs, 'VerifiedBytes')).toBe(stored.length);
    const summary = summaryOf(restore);
    expect(summary.Success).toBe(1);
    expect(summary.RestoreSeconds).toBeGreaterThan(0);
    expect(await pg.fingerprint(target)).toEqual(await pg.fingerprint(source));
  });
});

describe('the backup manifest on ECS', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('records the task the metadata endpoint serves: cluster, task ARN, family:revision, container, zone, launch type', async () => {
    // The task and container responses in the shape of the ECS task metadata endpoint v4.
    const cluster = 'arn:aws:ecs:us-west-2:111122223333:cluster/backups';
    const taskArn =
      'arn:aws:ecs:us-west-2:111122223333:task/backups/158d1c8083dd49d6b527399fd6414f5c';
    const container = {
      DockerId: '158d1c8083dd49d6b527399fd6414f5c-1234567890',
      Name: 's3worker',
      Image: 's3worker:latest',
      Labels: {
        'com.amazonaws.ecs.cluster': cluster,
        'com.amazonaws.ecs.container-name': 's3worker',
        'com.amazonaws.ecs.task-arn': taskArn,
        'com.amazonaws.ecs.task-definition-family': 'db-backup',
        'com.amazonaws.ecs.task-definition-version': '7',
      },
      DesiredStatus: 'RUNNING',
      KnownStatus: 'RUNNING',
      Type: 'NORMAL',
    };
    const task = {
      Cluster: cluster,
      TaskARN: taskArn,
      Family: 'db-backup',
      Revision: '7',
      DesiredStatus: 'RUNNING',
      KnownStatus: 'RUNNING',
      AvailabilityZone: 'us-west-2b',
      LaunchType: 'FARGATE',
      Containers: [container],
    };
    const base = '/v4/158d1c8083dd49d6b527399fd6414f5c-1234567890';
    const s = createServer((req, res) => {
      const body = req.url === base ? container : req.url === `${base}/task` ? task : undefined;
      res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
      res.end(body ? JSON.stringify(body) : '{}');
    });
    server = s;
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const { port } = s.address() as { port: number };

    const source = await newDatabase('dbb_ecs');
    await pg.seed(source, 1);
    const prefix = 'ecs/';
    const r = await runCli(backupArgs(prefix, `--database=${source}`, '--metrics', 'off'), {
      env: env({ ECS_CONTAINER_METADATA_URI_V4: `http://127.0.0.1:${port}${base}` }),
    });
    expect(r.code, allOutput(r)).toBe(ExitCode.Success);
    const { manifests } = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(manifests).toHaveLength(1);
    expect(manifests[0]!.task).toEqual({
      cluster: 'backups',
      taskArn,
      taskDefinition: 'db-backup:7',
      container: 's3worker',
      availabilityZone: 'us-west-2b',
      launchType: 'FARGATE',
    });
    expect(metricLines(r.logs)).toEqual([]);
    // The backup and its manifest name the task in their user metadata.
    for (const key of [manifests[0]!.key, `${manifests[0]!.key}.manifest.json`]) {
      const head = await bucket.admin.send(
        new HeadObjectCommand({ Bucket: bucket.name, Key: key }),
      );
      expect(head.Metadata).toMatchObject({
        's3worker-ecs-task-arn': taskArn,
        's3worker-ecs-task-definition': 'db-backup:7',
      });
    }
  });
});
