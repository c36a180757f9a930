import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import {
  allOutput,
  backupsUnder,
  dumpingChild,
  filesHolding,
  messages,
  processTexts,
  uploadsUnder,
  waitFor,
} from '../fixtures/db-backup/backup-harness.js';
import { useEngineRun } from '../fixtures/db-backup/engine-run.js';
import { LockHolder, PgAdmin } from '../fixtures/db-backup/sql-harness.js';
import { getBytes, sha256 } from '../fixtures/stream-transform/harness.js';
import { runCli, startCli } from '../support/run-cli.js';
import { useTestBucket } from '../support/test-bucket.js';

const servers = inject('servers');
const pg = new PgAdmin(servers.postgres);
const bucket = useTestBucket(servers.s3, 'dbb-pg');
/** The large table's size in the round trip: 50 MiB of incompressible bytes, as the issue asks. */
const BIG_MIB = 50;

const engineRun = useEngineRun('postgres', pg, servers.s3, bucket);
const { newDatabase, newName, dropLater, env, backupArgs, restoreArgs } = engineRun;

describe('db-backup and db-restore on PostgreSQL', () => {
  it('round-trips bytea, unicode, a 50 MiB table, a view and a function into a new database (custom format, zstd, multipart)', async () => {
    const source = await newDatabase('dbb_src');
    await pg.seed(source, BIG_MIB);
    const prefix = 'roundtrip/';

    const backup = await runCli(backupArgs(prefix, `--database=${source}`), { env: env() });
    expect(backup.code, allOutput(backup)).toBe(ExitCode.Success);

    const { objects, manifests } = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(objects).toHaveLength(1);
    expect(manifests).toHaveLength(1);
    const m = manifests[0]!;
    expect(objects[0]).toBe(m.key);
    expect(m.key).toMatch(
      new RegExp(`^${prefix}postgres/${source}/\\d{8}T\\d{6}\\.\\d{3}Z\\.dump\\.zst$`),
    );
    expect(m).toMatchObject({
      engine: 'postgres',
      database: source,
      kind: 'database',
      dumpFormat: 'custom',
      compression: 'zstd',
      encryption: null,
      serverMajor: 15,
      dumpTool: 'pg_dump',
    });
    const stored = await getBytes(bucket.admin, bucket.name, m.key);
    expect(m.storedBytes).toBe(stored.length);
    expect(m.sha256).toBe(sha256(stored));
    expect(m.rawBytes).toBeGreaterThan(BIG_MIB * 1024 * 1024);
    const written = backup.logs.find((l) => l.msg === 'backup written');
    expect(written?.parts).toBeGreaterThan(1);

    const target = newName('dbb_dst');
    const restore = await runCli(
      restoreArgs(prefix, `--from-database=${source}`, `--database=${target}`, '--create-database'),
      { env: env() },
    );
    expect(restore.code, allOutput(restore)).toBe(ExitCode.Success);
    // A 50 MiB table waits on the tool's stdin many times: no listener may pile up on it.
    expect(restore.stderr).not.toContain('MaxListenersExceededWarning');
    expect(messages(restore)).toEqual(
      expect.arrayContaining([
        'backup chosen',
        'backup verified',
        'target database created',
        'restore finished',
      ]),
    );
    expect(await pg.fingerprint(target)).toEqual(await pg.fingerprint(source));
  });

  it('reads the dump through a pipe where its socket cannot be made (a temporary folder too deep), same backup', async () => {
    const source = await newDatabase('dbb_pipe');
    await pg.seed(source, 1);
    const prefix = 'pipe/';
    const deep = join(engineRun.tmp, 'd'.repeat(100));
    mkdirSync(deep, { recursive: true });
    const backup = await runCli(backupArgs(prefix, `--database=${source}`), {
      env: env({ S3WORKER_TMPDIR: deep }),
    });
    expect(backup.code, allOutput(backup)).toBe(ExitCode.Success);
    expect(messages(backup)).toContain(
      'reading the dump through a pipe instead of a reused buffer',
    );
    const target = newName('dbb_pipe_dst');
    const restore = await runCli(
      restoreArgs(prefix, `--from-database=${source}`, `--database=${target}`, '--create-database'),
      { env: env() },
    );
    expect(restore.code, allOutput(restore)).toBe(ExitCode.Success);
    expect(await pg.fingerprint(target)).toEqual(await pg.fingerprint(source));
  });

  it('round-trips a plain-format gzip backup through psql, and --at picks the newest backup at or before a time', async () => {
    const source = await newDatabase('dbb_plain');
    await pg.seed(source, 1);
    const prefix = 'plain/';
    const args = backupArgs(
      prefix,
      `--database=${source}`,
      '--format',
      'plain',
      '--compression',
      'gzip',
    );
    const first = await runCli(args, { env: env() });
    expect(first.code, allOutput(first)).toBe(ExitCode.Success);
    const between = new Date().toISOString();
    await pg.sql(source, "INSERT INTO texts (body) VALUES ('only in the second backup')");
    const second = await runCli(args, { env: env() });
    expect(second.code, allOutput(second)).toBe(ExitCode.Success);
    const { manifests } = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(manifests.map((m) => m.key.endsWith('.sql.gz'))).toEqual([true, true]);

    const target = await newDatabase('dbb_plain_at');
    const restore = await runCli(
      restoreArgs(prefix, `--from-database=${source}`, `--database=${target}`, '--at', between),
      { env: env() },
    );
    expect(restore.code, allOutput(restore)).toBe(ExitCode.Success);
    const chosen = restore.logs.find((l) => l.msg === 'backup chosen');
    expect(chosen?.key).toBe(manifests[0]!.key);
    expect(await pg.sql(target, 'SELECT count(*) FROM texts')).toBe('5\n');
  });

  it('with a bad password stores no object, no manifest and no upload, exits non-zero and says why without the password', async () => {
    const source = await newDatabase('dbb_badpw');
    await pg.seed(source, 1);
    const prefix = 'badpw/';
    const wrong = 'Wrong-Pa55word-For-The-Test';
    const r = await runCli(backupArgs(prefix, `--database=${source}`), {
      env: env({ PGPASSWORD: wrong }),
    });
    expect(r.code).toBe(ExitCode.ObjectsFailed);
    expect(allOutput(r)).toMatch(/password authentication failed/);
    expect(allOutput(r)).not.toContain(wrong);
    expect(allOutput(r)).not.toContain(servers.postgres.password);
    const { keys } = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(keys).toEqual([]);
    expect(await uploadsUnder(bucket.admin, bucket.name, prefix)).toEqual([]);
  });

  it('--ssl-mode require wins over PGSSLMODE: against the test server, which has no TLS, nothing is stored', async () => {
    const source = await newDatabase('dbb_tls');
    const prefix = 'tls/';
    const r = await runCli(backupArgs(prefix, `--database=${source}`, '--ssl-mode', 'require'), {
      env: env({ PGSSLMODE: 'disable' }),
    });
    expect(r.code, allOutput(r)).toBe(ExitCode.ObjectsFailed);
    expect(allOutput(r)).toMatch(/server does not support SSL, but SSL was required/);
    expect(r.logs.find((l) => l.msg === 'db-backup starting')).toMatchObject({
      sslMode: 'require',
    });
    expect((await backupsUnder(bucket.admin, bucket.name, prefix)).keys).toEqual([]);
  });

  it('passes the password through a file: never on the dump tool command line, in its environment or in the logs', async () => {
    const source = await newDatabase('dbb_proc');
    await pg.seed(source, 1);
    const prefix = 'proc/';
    // The dump waits for this lock, so pg_dump can be looked at while it runs.
    const lock = await LockHolder.postgres(pg, source, 'big');
    let released = false;
    try {
      const cli = startCli(backupArgs(prefix, `--database=${source}`), { env: env() });
      const pid = await waitFor(() => dumpingChild(cli.child.pid!, 'pg_dump'), 'pg_dump to start');
      const proc = processTexts(pid);
      expect(proc.cmdline).toContain('pg_dump');
      expect(proc.cmdline).not.toContain(servers.postgres.password);
      expect(proc.environ).toContain('PGPASSFILE=');
      expect(proc.environ).not.toContain(servers.postgres.password);
      expect(proc.environ).not.toContain('AWS_SECRET_ACCESS_KEY');
      await lock.release();
      released = true;
      const r = await cli.done;
      expect(r.code, allOutput(r)).toBe(ExitCode.Success);
      expect(allOutput(r)).not.toContain(servers.postgres.password);
      // The passfile lived in the run's scratch folder only while the run lasted.
      expect(readdirSync(engineRun.tmp).filter((f) => f.startsWith('s3worker-db-'))).toEqual([]);
    } finally {
      if (!released) await lock.release();
    }
  });

  it('leaves no file holding the password in its scratch folder, while pg_dump runs nor after a kill -9 of the run', async () => {
    const source = await newDatabase('dbb_kill9');
    await pg.seed(source, 1);
    const prefix = 'kill9/';
    const lock = await LockHolder.postgres(pg, source, 'big');
    let dumpPid: number | undefined;
    try {
      const cli = startCli(backupArgs(prefix, `--database=${source}`), { env: env() });
      dumpPid = await waitFor(() => dumpingChild(cli.child.pid!, 'pg_dump'), 'pg_dump to start');
      expect(processTexts(dumpPid).environ).toContain('PGPASSFILE=');
      expect(filesHolding(engineRun.tmp, servers.postgres.password)).toEqual([]);
      // kill -9 runs no `finally`: whatever the run wrote stays where it was.
      cli.child.kill('SIGKILL');
      const r = await cli.done;
      expect(r.signal).toBe('SIGKILL');
      expect(filesHolding(engineRun.tmp, servers.postgres.password)).toEqual([]);
    } finally {
      // pg_dump outlives the killed run, waiting on the lock.
      if (dumpPid !== undefined) {
        try {
          process.kill(dumpPid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await lock.release();
    }
  });

  it('aborts the upload and writes no manifest when pg_dump is killed mid-dump', async () => {
    const source = await newDatabase('dbb_kill');
    await pg.seed(source, 1);
    const prefix = 'kill/';
    const lock = await LockHolder.postgres(pg, source, 'big');
    try {
      const cli = startCli(backupArgs(prefix, `--database=${source}`), { env: env() });
      const pid = await waitFor(() => dumpingChild(cli.child.pid!, 'pg_dump'), 'pg_dump to start');
      process.kill(pid, 'SIGKILL');
      const r = await cli.done;
      expect(r.code).toBe(ExitCode.ObjectsFailed);
      expect(allOutput(r)).toMatch(/pg_dump was killed by SIGKILL/);
    } finally {
      await lock.release();
    }
    const { keys } = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(keys).toEqual([]);
    expect(await uploadsUnder(bucket.admin, bucket.name, prefix)).toEqual([]);
  });

  it('on SIGTERM past the drain deadline kills the dump, aborts its upload and exits Interrupted', async () => {
    const source = await newDatabase('dbb_term');
    await pg.seed(source, 1);
    const prefix = 'term/';
    const lock = await LockHolder.postgres(pg, source, 'big');
    try {
      const cli = startCli(backupArgs(prefix, `--database=${source}`, '--drain-timeout', '1s'), {
        env: env(),
      });
      const pid = await waitFor(() => dumpingChild(cli.child.pid!, 'pg_dump'), 'pg_dump to start');
      cli.child.kill('SIGTERM');
      const r = await cli.done;
      expect(r.code, allOutput(r)).toBe(ExitCode.Interrupted);
      expect(existsSync(`/proc/${pid}`) && processTexts(pid).cmdline !== '').toBe(false);
    } finally {
      await lock.release();
    }
    expect((await backupsUnder(bucket.admin, bucket.name, prefix)).keys).toEqual([]);
    expect(await uploadsUnder(bucket.admin, bucket.name, prefix)).toEqual([]);
  });

  it('refuses a backup with one byte flipped and leaves the target database as it was', async () => {
    const source = await newDatabase('dbb_flip');
    await pg.seed(source, 1);
    const prefix = 'flip/';
    const backup = await runCli(
      backupArgs(prefix, `--database=${source}`, '--compression', 'none'),
      {
        env: env(),
      },
    );
    expect(backup.code, allOutput(backup)).toBe(ExitCode.Success);
    const { manifests } = await backupsUnder(bucket.admin, bucket.name, prefix);
    const key = manifests[0]!.key;
    const bytes = await getBytes(bucket.admin, bucket.name, key);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await bucket.admin.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: bytes }));

    const target = await newDatabase('dbb_flip_target');
    await pg.sql(target, 'CREATE TABLE marker (v text)', "INSERT INTO marker VALUES ('before')");
    const r = await runCli(
      restoreArgs(prefix, `--from-database=${source}`, `--database=${target}`, '--clean'),
      { env: env() },
    );
    expect(r.code).toBe(ExitCode.ObjectsFailed);
    expect(allOutput(r)).toMatch(/BACKUP_CORRUPT|refusing to restore/);
    expect(messages(r)).not.toContain('restore starting');
    expect(
      await pg.sql(
        target,
        "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'",
      ),
    ).toBe('marker\n');
    expect(await pg.sql(target, 'SELECT v FROM marker')).toBe('before\n');

    const fresh = newName('dbb_flip_new');
    const r2 = await runCli(
      restoreArgs(prefix, `--from-database=${source}`, `--database=${fresh}`, '--create-database'),
      { env: env() },
    );
    expect(r2.code).toBe(ExitCode.ObjectsFailed);
    expect(await pg.exists(fresh)).toBe(false);
  });

  it('treats hostile database names as plain names: each dumped and restored as itself, no file created', async () => {
    const tag = `${process.pid}-${Date.now()}`;
    const pwned = `/tmp/pwned-${tag}`;
    const names = [
      `x; touch ${pwned}`,
      '--help',
      `dbname=postgres host=127.0.0.2 tag=${tag}`,
      `-f/etc/passwd-${tag}`,
    ];
    for (const name of names) {
      dropLater(name);
      await pg.create(name);
      await pg.sql(
        name,
        'CREATE TABLE who (name text)',
        `INSERT INTO who VALUES ('${name.replaceAll("'", "''")}')`,
      );
    }
    const prefix = 'hostile/';
    const r = await runCli(backupArgs(prefix, ...names.map((n) => `--database=${n}`)), {
      env: env(),
    });
    expect(r.code, allOutput(r)).toBe(ExitCode.Success);
    const { manifests, objects } = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(manifests.map((m) => m.database).sort()).toEqual([...names].sort());
    for (const m of manifests) {
      expect(m.key.startsWith(`${prefix}postgres/${encodeURIComponent(m.database)}/`)).toBe(true);
    }
    expect(objects).toHaveLength(names.length);

    for (const name of [names[2]!, names[1]!]) {
      const target = `${name}-restored`;
      dropLater(target);
      const restored = await runCli(
        restoreArgs(prefix, `--from-database=${name}`, `--database=${target}`, '--create-database'),
        { env: env() },
      );
      expect(restored.code, allOutput(restored)).toBe(ExitCode.Success);
      expect(await pg.sql(target, 'SELECT name FROM who')).toBe(`${name}\n`);
    }
    expect(existsSync(pwned)).toBe(false);
    expect(existsSync('/tmp/pwned')).toBe(false);
  });

  it('backs up roles with --globals as @globals, and a restore of it brings a dropped role back', async () => {
    const source = await newDatabase('dbb_glob');
    const role = `dbb_role_${process.pid}_${Date.now()}`;
    await pg.sql(servers.postgres.database, `CREATE ROLE ${role} NOLOGIN`);
    try {
      const prefix = 'globals/';
      const r = await runCli(backupArgs(prefix, `--database=${source}`, '--globals'), {
        env: env(),
      });
      expect(r.code, allOutput(r)).toBe(ExitCode.Success);
      const { manifests } = await backupsUnder(bucket.admin, bucket.name, prefix);
      const globals = manifests.find((m) => m.kind === 'globals');
      expect(globals).toMatchObject({
        database: '@globals',
        dumpTool: 'pg_dumpall',
        dumpFormat: 'plain',
      });
      expect(globals?.key).toMatch(new RegExp(`^${prefix}postgres/@globals/.*\\.sql\\.zst$`));
      expect(manifests.map((m) => m.database).sort()).toEqual(['@globals', source].sort());

      await pg.sql(servers.postgres.database, `DROP ROLE ${role}`);
      const restored = await runCli(
        restoreArgs(prefix, '--from-database=@globals', `--database=${servers.postgres.database}`),
        { env: env() },
      );
      expect(restored.code, allOutput(restored)).toBe(ExitCode.Success);
      expect(
        await pg.sql(
          servers.postgres.database,
          `SELECT count(*) FROM pg_roles WHERE rolname = '${role}'`,
        ),
      ).toBe('1\n');
    } finally {
      await pg.sql(servers.postgres.database, `DROP ROLE IF EXISTS ${role}`);
    }
  });

  it('fails a globals restore whose statements fail (exit 3), logging each by its first words and never a password; --ignore-globals-errors exits 0', async () => {
    const tag = `${process.pid}_${randomBytes(4).toString('hex')}`;
    const role = `dbb_pw_role_${tag}`;
    const rolePassword = `Role-Secret-${randomBytes(8).toString('hex')}`;
    const restorer = `dbb_restorer_${tag}`;
    const restorerPassword = `Restorer-Secret-${randomBytes(8).toString('hex')}`;
    const admin = servers.postgres.database;
    await pg.sql(admin, `CREATE ROLE ${role} LOGIN PASSWORD '${rolePassword}'`);
    await pg.sql(admin, `CREATE ROLE ${restorer} LOGIN PASSWORD '${restorerPassword}'`);
    try {
      const hash = (
        await pg.sql(admin, `SELECT rolpassword FROM pg_authid WHERE rolname = '${role}'`)
      ).trim();
      expect(hash).toMatch(/^SCRAM-SHA-256\$/);
      const prefix = 'globals-fail/';
      const backup = await runCli(backupArgs(prefix, '--globals'), { env: env() });
      expect(backup.code, allOutput(backup)).toBe(ExitCode.Success);

      // A user that may create and alter no role: every statement of the script fails.
      const asRestorer = env({ PGUSER: restorer, PGPASSWORD: restorerPassword });
      const args = restoreArgs(prefix, '--from-database=@globals', `--database=${admin}`);
      const failed = await runCli(args, { env: asRestorer });
      expect(failed.code, allOutput(failed)).toBe(ExitCode.ObjectsFailed);
      const lines = failed.logs.filter((l) => l.msg === 'globals statement failed');
      expect(lines.map((l) => l.statement)).toEqual(
        expect.arrayContaining([`CREATE ROLE ${role}`, `ALTER ROLE ${role} WITH`]),
      );
      expect(lines.every((l) => l.level === 'error' && l.sqlstate === '42501')).toBe(true);
      expect(allOutput(failed)).toMatch(
        /GLOBALS_FAILED|statement\(s\) of the globals script failed/,
      );
      expect(messages(failed)).not.toContain('restore finished');

      const ignored = await runCli([...args, '--ignore-globals-errors'], { env: asRestorer });
      expect(ignored.code, allOutput(ignored)).toBe(ExitCode.Success);
      const warned = ignored.logs.filter((l) => l.msg === 'globals statement failed');
      expect(warned.length).toBe(lines.length);
      expect(warned.every((l) => l.level === 'warn')).toBe(true);
      expect(messages(ignored)).toContain('restore finished');

      for (const r of [failed, ignored]) {
        const out = allOutput(r);
        expect(out).not.toContain(hash);
        expect(out).not.toContain('SCRAM-SHA-256$');
        expect(out).not.toContain(rolePassword);
        expect(out).not.toContain(restorerPassword);
      }
    } finally {
      await pg.sql(admin, `DROP ROLE IF EXISTS ${role}`, `DROP ROLE IF EXISTS ${restorer}`);
    }
  });
});
