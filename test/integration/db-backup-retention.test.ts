import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { allOutput, backupsUnder, uploadsUnder } from '../fixtures/db-backup/backup-harness.js';
import { PgAdmin, uniqueDatabaseName } from '../fixtures/db-backup/sql-harness.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { type CliResult, runCli, workerEnv } from '../support/run-cli.js';
import { useTestBucket } from '../support/test-bucket.js';

const servers = inject('servers');
const pg = new PgAdmin(servers.postgres);
const bucket = useTestBucket(servers.s3, 'dbb-ret');

let tmp: string;
let database: string;
beforeAll(async () => {
  database = uniqueDatabaseName('dbb_ret');
  await pg.create(database);
  await pg.sql(database, 'CREATE TABLE t (v int)', 'INSERT INTO t VALUES (1)');
});
afterAll(async () => {
  await pg.drop(database);
});
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-dbb-ret-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A db-backup run of the file's database; `endpoint` replaces the S3 endpoint (a fault proxy). */
function backup(prefix: string, extra: string[] = [], password?: string, endpoint?: string) {
  return runCli(
    [
      'run',
      'db-backup',
      '--engine',
      'postgres',
      `--database=${database}`,
      '--output',
      `s3://${bucket.name}/${prefix}`,
      '--log-format',
      'json',
      ...extra,
    ],
    {
      env: workerEnv(servers.s3, tmp, {
        ...pg.jobEnv(password),
        ...(endpoint !== undefined ? { S3WORKER_ENDPOINT: endpoint } : {}),
      }),
    },
  );
}

/** The `key` of each log line with message `msg`. */
function keysLogged(r: CliResult, msg: string): unknown[] {
  return r.logs.filter((l) => l.msg === msg).map((l) => l.key);
}

describe('db-backup retention', () => {
  it('keeps exactly the newest 3 of 7 backups with --keep-last 3 (run after the 7th backup)', async () => {
    const prefix = 'last3/';
    for (let i = 0; i < 6; i++) {
      const r = await backup(prefix);
      expect(r.code, allOutput(r)).toBe(ExitCode.Success);
    }
    const seventh = await backup(prefix, ['--keep-last', '3']);
    expect(seventh.code, allOutput(seventh)).toBe(ExitCode.Success);
    const planned = seventh.logs.find((l) => l.msg === 'retention planned');
    expect(planned).toMatchObject({ backups: 7, keep: 3, remove: 4 });
    const { manifests, objects } = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(manifests).toHaveLength(3);
    expect(objects).toHaveLength(3);
    // The three kept are the three newest: the 7th and the two before it.
    const newest = seventh.logs.find((l) => l.msg === 'backup written')?.key;
    expect(manifests.at(-1)?.key).toBe(newest);
    expect(objects.sort()).toEqual(manifests.map((m) => m.key).sort());
  });

  it('--dry-run lists what retention would delete and deletes nothing', async () => {
    const prefix = 'dry/';
    for (let i = 0; i < 3; i++) expect((await backup(prefix)).code).toBe(ExitCode.Success);
    const before = await backupsUnder(bucket.admin, bucket.name, prefix);
    const r = await backup(prefix, ['--retention-only', '--keep-last', '1', '--dry-run']);
    expect(r.code, allOutput(r)).toBe(ExitCode.Success);
    const wouldGo = r.logs
      .filter((l) => l.msg === 'retention would delete backup')
      .map((l) => l.key);
    expect(wouldGo.sort()).toEqual(
      before.manifests
        .slice(0, 2)
        .map((m) => m.key)
        .sort(),
    );
    expect(r.logs.some((l) => l.msg === 'dump starting')).toBe(false);
    const after = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(after.keys.sort()).toEqual(before.keys.sort());
  });

  it('failed backups leave nothing and do not count; the newest good backup is never deleted', async () => {
    const prefix = 'failed/';
    const good = await backup(prefix);
    expect(good.code, allOutput(good)).toBe(ExitCode.Success);
    for (let i = 0; i < 6; i++) {
      const failed = await backup(prefix, ['--keep-last', '3'], 'not-the-password');
      expect(failed.code).toBe(ExitCode.ObjectsFailed);
    }
    expect(await uploadsUnder(bucket.admin, bucket.name, prefix)).toEqual([]);
    const { manifests, keys } = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(manifests).toHaveLength(1);
    expect(keys).toHaveLength(2);

    // Even a rule that keeps nothing by age keeps the newest good backup.
    const r = await backup(prefix, ['--retention-only', '--keep-days', '0.000001']);
    expect(r.code, allOutput(r)).toBe(ExitCode.Success);
    expect(r.logs.find((l) => l.msg === 'retention planned')).toMatchObject({
      backups: 1,
      keep: 1,
      remove: 0,
    });
    expect((await backupsUnder(bucket.admin, bucket.name, prefix)).keys).toEqual(keys);
  });

  it('deletes a backup object whose manifest PUT was refused once it is older than --sweep-age (dry-run first), keeps it while younger, never the newest good backup', async () => {
    const prefix = 'orphan/';
    const proxy = await startFaultProxy(servers.s3.endpoint);
    try {
      proxy.setRule((r) =>
        r.action === 'PutObject' && r.path.endsWith('.manifest.json')
          ? { kind: 'status', status: 403, code: 'AccessDenied' }
          : undefined,
      );
      const refused = await backup(prefix, [], undefined, proxy.endpoint);
      expect(refused.code, allOutput(refused)).not.toBe(ExitCode.Success);
      expect(proxy.faults.get('status')).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
    const left = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(left.manifests).toEqual([]);
    expect(left.objects).toHaveLength(1);
    const orphan = left.objects[0]!;

    // Younger than --sweep-age: it may be a backup whose manifest is still on its way.
    const young = await backup(prefix, ['--keep-last', '2', '--sweep-age', '1h']);
    expect(young.code, allOutput(young)).toBe(ExitCode.Success);
    expect(
      young.logs.find(
        (l) => l.msg === 'backup objects without a manifest kept until older than --sweep-age',
      ),
    ).toMatchObject({ kept: 1 });
    const good = young.logs.find((l) => l.msg === 'backup written')?.key;
    expect((await backupsUnder(bucket.admin, bucket.name, prefix)).objects.sort()).toEqual(
      [orphan, good].sort(),
    );

    const sweep = ['--retention-only', '--keep-last', '1', '--sweep-age', '1ms'];
    const dry = await backup(prefix, [...sweep, '--dry-run']);
    expect(dry.code, allOutput(dry)).toBe(ExitCode.Success);
    expect(keysLogged(dry, 'retention would delete a backup object without a manifest')).toEqual([
      orphan,
    ]);
    expect((await backupsUnder(bucket.admin, bucket.name, prefix)).objects).toContain(orphan);

    const swept = await backup(prefix, sweep);
    expect(swept.code, allOutput(swept)).toBe(ExitCode.Success);
    expect(keysLogged(swept, 'retention deleted a backup object without a manifest')).toEqual([
      orphan,
    ]);
    const after = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(after.objects).toEqual([good]);
    expect(after.manifests.map((m) => m.key)).toEqual([good]);
  });
});
