import { existsSync } from 'node:fs';
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
import { LockHolder, MysqlAdmin } from '../fixtures/db-backup/sql-harness.js';
import { getBytes, sha256 } from '../fixtures/stream-transform/harness.js';
import { runCli, startCli } from '../support/run-cli.js';
import { useTestBucket } from '../support/test-bucket.js';

const servers = inject('servers');
const my = new MysqlAdmin(servers.mysql);
const bucket = useTestBucket(servers.s3, 'dbb-my');
/** The large table's size in the round trip: 50 MiB of incompressible bytes, as the issue asks. */
const BIG_MIB = 50;
/** The large table in the tests that stop a dump part-way: enough to span a part. */
const STOPPED_MIB = 10;

const engineRun = useEngineRun('mysql', my, servers.s3, bucket);
const { newDatabase, newName, dropLater, env, backupArgs, restoreArgs } = engineRun;

describe('db-backup and db-restore on MariaDB', () => {
  it('round-trips BLOBs, unicode, a 50 MiB table, a view, a function, a trigger and an event into a new database', async () => {
    const source = await newDatabase('dbb_src');
    await my.seed(source, BIG_MIB);
    const prefix = 'roundtrip/';
    const backup = await runCli(backupArgs(prefix, `--database=${source}`), { env: env() });
    expect(backup.code, allOutput(backup)).toBe(ExitCode.Success);

    const { objects, manifests } = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(objects).toHaveLength(1);
    const m = manifests[0]!;
    expect(m).toMatchObject({
      engine: 'mysql',
      database: source,
      dumpFormat: 'plain',
      dumpTool: 'mysqldump',
      compression: 'zstd',
    });
    expect(m.serverVersion).toMatch(/MariaDB/);
    expect(m.key.endsWith('.sql.zst')).toBe(true);
    const stored = await getBytes(bucket.admin, bucket.name, m.key);
    expect(m.sha256).toBe(sha256(stored));
    expect(backup.logs.find((l) => l.msg === 'backup written')?.parts).toBeGreaterThan(1);

    const target = newName('dbb_dst');
    const restore = await runCli(
      restoreArgs(prefix, `--from-database=${source}`, `--database=${target}`, '--create-database'),
      { env: env() },
    );
    expect(restore.code, allOutput(restore)).toBe(ExitCode.Success);
    // A 50 MiB table waits on the tool's stdin many times: no listener may pile up on it.
    expect(restore.stderr).not.toContain('MaxListenersExceededWarning');
    const expected = await my.fingerprint(source);
    expect(expected.routines).toBe('1');
    expect(expected.triggers).toBe('1');
    expect(expected.events).toBe('1');
    expect(await my.fingerprint(target)).toEqual(expected);
  });

  it('with a bad password stores nothing and says why without the password', async () => {
    const source = await newDatabase('dbb_badpw');
    const prefix = 'badpw/';
    const wrong = 'Wrong-Pa55word-For-The-Test';
    const r = await runCli(backupArgs(prefix, `--database=${source}`), {
      env: env({ MYSQL_PWD: wrong }),
    });
    expect(r.code).toBe(ExitCode.ObjectsFailed);
    expect(allOutput(r)).toMatch(/Access denied for user/);
    expect(allOutput(r)).not.toContain(wrong);
    const { keys } = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(keys).toEqual([]);
    expect(await uploadsUnder(bucket.admin, bucket.name, prefix)).toEqual([]);
  });

  it('--ssl-mode reaches the client: disable backs up the server without TLS, require refuses it and stores nothing', async () => {
    const source = await newDatabase('dbb_tls');
    const plain = await runCli(
      backupArgs('tls-off/', `--database=${source}`, '--ssl-mode', 'disable'),
      {
        env: env(),
      },
    );
    expect(plain.code, allOutput(plain)).toBe(ExitCode.Success);
    expect((await backupsUnder(bucket.admin, bucket.name, 'tls-off/')).objects).toHaveLength(1);

    const required = await runCli(
      backupArgs('tls-on/', `--database=${source}`, '--ssl-mode', 'require'),
      { env: env() },
    );
    expect(required.code, allOutput(required)).toBe(ExitCode.ObjectsFailed);
    expect(allOutput(required)).toMatch(/SSL is required, but the server does not support it/);
    expect((await backupsUnder(bucket.admin, bucket.name, 'tls-on/')).keys).toEqual([]);
  });

  it('aborts the multipart upload already under way when mysqldump is killed mid-dump; the password was never on its command line nor in a named file', async () => {
    const source = await newDatabase('dbb_kill');
    await my.seed(source, STOPPED_MIB);
    // mysqldump goes table by table: it dumps `big` (a part and more), then waits on this lock.
    await my.sql(source, 'CREATE TABLE zz_locked (id INT PRIMARY KEY) ENGINE=InnoDB');
    const prefix = 'kill/';
    const lock = await LockHolder.mysql(my, source, 'zz_locked');
    let r: Awaited<ReturnType<typeof runCli>>;
    try {
      // 5 MiB parts: the part fills well before mysqldump stops at the lock, whatever the
      // compressor still holds back.
      const cli = startCli(backupArgs(prefix, `--database=${source}`, '--part-size', '5MiB'), {
        env: env(),
      });
      const pid = await waitFor(
        () =>
          dumpingChild(cli.child.pid!, 'mariadb-dump') ?? dumpingChild(cli.child.pid!, 'mysqldump'),
        'mysqldump to start',
      );
      const proc = processTexts(pid);
      expect(proc.cmdline).toContain('--defaults-extra-file=');
      expect(proc.cmdline).not.toContain(servers.mysql.password);
      expect(proc.environ).not.toContain(servers.mysql.password);
      // The option file has no name on disk while the dump runs (mysqldump holds it open).
      expect(filesHolding(engineRun.tmp, servers.mysql.password)).toEqual([]);
      await waitFor(
        async () =>
          (await uploadsUnder(bucket.admin, bucket.name, prefix)).length > 0 ? true : undefined,
        'the multipart upload to start',
      );
      process.kill(pid, 'SIGKILL');
      r = await cli.done;
    } finally {
      await lock.release();
    }
    expect(r.code).toBe(ExitCode.ObjectsFailed);
    expect(allOutput(r)).toMatch(/mysqldump was killed by SIGKILL/);
    expect(allOutput(r)).not.toContain(servers.mysql.password);
    const { keys } = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(keys).toEqual([]);
    expect(await uploadsUnder(bucket.admin, bucket.name, prefix)).toEqual([]);
  });

  it('refuses a backup with one byte flipped: no database is created', async () => {
    const source = await newDatabase('dbb_flip');
    await my.seed(source, 1);
    const prefix = 'flip/';
    const backup = await runCli(backupArgs(prefix, `--database=${source}`), { env: env() });
    expect(backup.code, allOutput(backup)).toBe(ExitCode.Success);
    const { manifests } = await backupsUnder(bucket.admin, bucket.name, prefix);
    const key = manifests[0]!.key;
    const bytes = await getBytes(bucket.admin, bucket.name, key);
    bytes[Math.floor(bytes.length / 3)]! ^= 0x80;
    await bucket.admin.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: bytes }));

    const target = newName('dbb_flip_new');
    const r = await runCli(
      restoreArgs(prefix, `--from-database=${source}`, `--database=${target}`, '--create-database'),
      { env: env() },
    );
    expect(r.code, allOutput(r)).toBe(ExitCode.ObjectsFailed);
    expect(allOutput(r)).toMatch(/refusing to restore/);
    expect(messages(r)).not.toContain('restore starting');
    expect(await my.exists(target)).toBe(false);
  });

  it('treats hostile database names as plain names', async () => {
    const tag = `${process.pid}_${Date.now()}`;
    const pwned = `/tmp/pwned-my-${tag}`;
    const names = [`x; touch ${pwned}`, `--help-${tag}`, `-f/etc/passwd-${tag}`];
    for (const name of names) {
      dropLater(name);
      await my.create(name);
      await my.sql(
        name,
        `CREATE TABLE who (name TEXT); INSERT INTO who VALUES (CONVERT(X'${Buffer.from(name).toString('hex')}' USING utf8mb4))`,
      );
    }
    const prefix = 'hostile/';
    const r = await runCli(backupArgs(prefix, ...names.map((n) => `--database=${n}`)), {
      env: env(),
    });
    expect(r.code, allOutput(r)).toBe(ExitCode.Success);
    const { manifests } = await backupsUnder(bucket.admin, bucket.name, prefix);
    expect(manifests.map((m) => m.database).sort()).toEqual([...names].sort());
    const target = `${names[1]}-restored`;
    dropLater(target);
    const restored = await runCli(
      restoreArgs(
        prefix,
        `--from-database=${names[1]}`,
        `--database=${target}`,
        '--create-database',
      ),
      { env: env() },
    );
    expect(restored.code, allOutput(restored)).toBe(ExitCode.Success);
    expect(await my.sql(target, 'SELECT name FROM who')).toBe(`${names[1]}\n`);
    expect(existsSync(pwned)).toBe(false);
  });
});
