import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import {
  allOutput,
  backupsUnder,
  messages,
  uploadsUnder,
} from '../fixtures/db-backup/backup-harness.js';
import { PgAdmin, uniqueDatabaseName } from '../fixtures/db-backup/sql-harness.js';
import { runCli, workerEnv } from '../support/run-cli.js';
import type { Pg18Server } from '../support/servers.js';
import { useTestBucket } from '../support/test-bucket.js';

const servers = inject('servers');

/**
 * The second PostgreSQL major (18) and its client programs, from whichever source the servers
 * came: scripts/test-services.sh, Testcontainers, or PG18_PORT and PG18_BIN_DIR in the
 * environment.
 */
function pg18(): Pg18Server {
  const server = servers.postgres18;
  if (!server || !existsSync(join(server.binDir, 'pg_dump'))) {
    throw new Error(
      server
        ? `no PostgreSQL 18 client programs in ${server.binDir} (PG18_BIN_DIR)`
        : 'no PostgreSQL 18 test server: run scripts/test-services.sh start (or start-pg18), or set PG18_PORT and PG18_BIN_DIR',
    );
  }
  return server;
}

const new18 = pg18();
const pg15 = new PgAdmin(servers.postgres);
const pg18admin = new PgAdmin(new18);
const bucket = useTestBucket(servers.s3, 'dbb-ver');

let tmp: string;
const created: Array<[PgAdmin, string]> = [];
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-dbb-ver-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});
afterAll(async () => {
  for (const [admin, db] of created) await admin.drop(db);
});

async function newDatabase(admin: PgAdmin, prefix: string, seed = true): Promise<string> {
  const name = uniqueDatabaseName(prefix);
  created.push([admin, name]);
  await admin.create(name);
  if (seed) await admin.seed(name, 1);
  return name;
}

function run(
  admin: PgAdmin,
  job: 'db-backup' | 'db-restore',
  location: string,
  ...extra: string[]
) {
  return runCli(
    [
      'run',
      job,
      '--engine',
      'postgres',
      job === 'db-backup' ? '--output' : '--input',
      `s3://${bucket.name}/${location}`,
      '--log-format',
      'json',
      ...extra,
    ],
    { env: workerEnv(servers.s3, tmp, admin.jobEnv()) },
  );
}

describe('db-backup matches the PostgreSQL client to the server major', () => {
  it('refuses to dump a PostgreSQL 18 server with the installed 15 client, before any upload, naming both versions', async () => {
    const db = await newDatabase(pg18admin, 'dbb_v18');
    const prefix = 'refused/';
    const r = await run(pg18admin, 'db-backup', prefix, `--database=${db}`);
    expect(r.code).toBe(ExitCode.Config);
    expect(allOutput(r)).toMatch(
      /server is version 18\.\d+ \(major 18\) and no client of major 18 or newer/,
    );
    expect(allOutput(r)).toMatch(/clients found: 15\.\d+/);
    expect(messages(r)).not.toContain('dump starting');
    expect((await backupsUnder(bucket.admin, bucket.name, prefix)).keys).toEqual([]);
    expect(await uploadsUnder(bucket.admin, bucket.name, prefix)).toEqual([]);
  });

  it('dumps and restores PostgreSQL 18 with --pg-bin-dir pointing at an 18 client', async () => {
    const db = await newDatabase(pg18admin, 'dbb_v18ok');
    const prefix = 'v18/';
    const backup = await run(
      pg18admin,
      'db-backup',
      prefix,
      `--database=${db}`,
      '--pg-bin-dir',
      new18.binDir,
    );
    expect(backup.code, allOutput(backup)).toBe(ExitCode.Success);
    const m = (await backupsUnder(bucket.admin, bucket.name, prefix)).manifests[0]!;
    expect(m).toMatchObject({ serverMajor: 18, dumpToolMajor: 18 });

    const target = uniqueDatabaseName('dbb_v18_dst');
    created.push([pg18admin, target]);
    const restore = await run(
      pg18admin,
      'db-restore',
      prefix,
      `--from-database=${db}`,
      `--database=${target}`,
      '--create-database',
      '--pg-bin-dir',
      new18.binDir,
    );
    expect(restore.code, allOutput(restore)).toBe(ExitCode.Success);
    expect(await pg18admin.fingerprint(target)).toEqual(await pg18admin.fingerprint(db));
  });

  it('uses a client newer than the server (18 for 15) when no 15 is given: the classic upgrade path into 18; a 15 pg_restore is refused', async () => {
    const db = await newDatabase(pg15, 'dbb_v15by18');
    const prefix = 'v15by18/';
    const backup = await run(
      pg15,
      'db-backup',
      prefix,
      `--database=${db}`,
      '--pg-bin-dir',
      new18.binDir,
    );
    expect(backup.code, allOutput(backup)).toBe(ExitCode.Success);
    expect(messages(backup)).toContain('dump client is newer than the server');
    const m = (await backupsUnder(bucket.admin, bucket.name, prefix)).manifests[0]!;
    expect(m).toMatchObject({ serverMajor: 15, dumpToolMajor: 18 });

    // pg_restore 15 cannot read an archive written by pg_dump 18: refused before the target is touched.
    const back = uniqueDatabaseName('dbb_v15by18_back');
    created.push([pg15, back]);
    const refused = await run(
      pg15,
      'db-restore',
      prefix,
      `--from-database=${db}`,
      `--database=${back}`,
      '--create-database',
    );
    expect(refused.code).toBe(ExitCode.Config);
    expect(allOutput(refused)).toMatch(/no client of major 18 or newer/);
    expect(await pg15.exists(back)).toBe(false);

    const upgraded = uniqueDatabaseName('dbb_v15by18_up');
    created.push([pg18admin, upgraded]);
    const restored = await run(
      pg18admin,
      'db-restore',
      prefix,
      `--from-database=${db}`,
      `--database=${upgraded}`,
      '--create-database',
      '--pg-bin-dir',
      new18.binDir,
    );
    expect(restored.code, allOutput(restored)).toBe(ExitCode.Success);
    expect(await pg18admin.fingerprint(upgraded)).toEqual(await pg15.fingerprint(db));
  });

  it('refuses to restore a backup dumped by pg_dump 18 into the 15 server even with an 18 client, before the target is created: custom and plain both start with SET transaction_timeout', async () => {
    const db = await newDatabase(pg15, 'dbb_v15tt');
    for (const format of ['custom', 'plain']) {
      const prefix = `v15tt-${format}/`;
      const backup = await run(
        pg15,
        'db-backup',
        prefix,
        `--database=${db}`,
        `--format=${format}`,
        '--pg-bin-dir',
        new18.binDir,
      );
      expect(backup.code, allOutput(backup)).toBe(ExitCode.Success);
      const back = uniqueDatabaseName(`dbb_v15tt_${format}`);
      created.push([pg15, back]);
      const refused = await run(
        pg15,
        'db-restore',
        prefix,
        `--from-database=${db}`,
        `--database=${back}`,
        '--create-database',
        '--pg-bin-dir',
        new18.binDir,
      );
      expect(refused.code, allOutput(refused)).toBe(ExitCode.Config);
      expect(allOutput(refused)).toMatch(
        format === 'custom'
          ? /dumped by pg_dump 18, and pg_restore 18 starts the restore with SET transaction_timeout, which the PostgreSQL 15\.\d+ server \(before 17\) rejects/
          : /the SQL dump of pg_dump 18 starts the restore with SET transaction_timeout/,
      );
      expect(messages(refused)).not.toContain('restore starting');
      expect(await pg15.exists(back)).toBe(false);
    }
  });

  it('--all-databases dumps every database of the 18 server but templates and the excluded ones, one object each', async () => {
    const a = await newDatabase(pg18admin, 'dbb_all_a', false);
    const b = await newDatabase(pg18admin, 'dbb_all_b', false);
    const prefix = 'all/';
    const r = await run(
      pg18admin,
      'db-backup',
      prefix,
      '--all-databases',
      '--exclude-database',
      'postgres',
      '--pg-bin-dir',
      new18.binDir,
    );
    expect(r.code, allOutput(r)).toBe(ExitCode.Success);
    const listed = r.logs.find((l) => l.msg === 'databases listed')?.databases as string[];
    expect(listed).toEqual(expect.arrayContaining(['postgres', a, b]));
    expect(listed.some((n) => n.startsWith('template'))).toBe(false);
    const { manifests, objects } = await backupsUnder(bucket.admin, bucket.name, prefix);
    const names = manifests.map((m) => m.database);
    expect(names).toEqual(expect.arrayContaining([a, b]));
    expect(names).not.toContain('postgres');
    expect(names.sort()).toEqual(listed.filter((n) => n !== 'postgres').sort());
    expect(objects).toHaveLength(manifests.length);
  });
});
