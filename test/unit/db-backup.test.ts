import { spawnSync } from 'node:child_process';
import { fstatSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import type { CatalogEntry } from '../../src/jobs/db-backup/backup-catalog.js';
import {
  backupKeyPattern,
  backupKeyTemplateProblems,
  backupListPrefix,
  DEFAULT_BACKUP_KEY_TEMPLATE,
  formatTimestamp,
  GLOBALS_NAME,
  renderBackupKey,
} from '../../src/jobs/db-backup/backup-key.js';
import { databaseBackupConfigSchema } from '../../src/jobs/db-backup/config.js';
import { resolveConnection } from '../../src/jobs/db-backup/connection.js';
import { DatabaseBackupJob } from '../../src/jobs/db-backup/database-backup-job.js';
import { mysqlClientFlavor, mysqlTlsArgs } from '../../src/jobs/db-backup/engines/mysql.js';
import { conninfoValue } from '../../src/jobs/db-backup/engines/postgres.js';
import type { Manifest } from '../../src/jobs/db-backup/manifest.js';
import { planRetention, staleOrphans } from '../../src/jobs/db-backup/retention.js';
import { SECRET_FD, SecretDir } from '../../src/jobs/db-backup/secret-dir.js';
import { maskSecrets } from '../../src/jobs/db-backup/tool-process.js';
import {
  choosePgClient,
  mysqlClientProblem,
  parseMysqlVersion,
  parsePgServerVersion,
  parsePgToolVersion,
} from '../../src/jobs/db-backup/version-match.js';
import { databaseRestoreConfigSchema } from '../../src/jobs/db-restore/config.js';
import { DatabaseRestoreJob } from '../../src/jobs/db-restore/database-restore-job.js';

describe('database client versions', () => {
  it('reads pg_dump, server and MySQL/MariaDB version strings', () => {
    expect(parsePgToolVersion('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)')).toMatchObject(
      {
        major: 15,
        minor: 18,
        text: '15.18',
      },
    );
    expect(parsePgToolVersion('pg_dump (PostgreSQL) 18.6')?.major).toBe(18);
    expect(parsePgToolVersion('not a version')).toBeUndefined();
    expect(parsePgServerVersion('150018', '15.18 (Debian 15.18-0+deb12u1)')).toMatchObject({
      major: 15,
      minor: 18,
      text: '15.18',
    });
    expect(parsePgServerVersion('90624', '9.6.24').major).toBe(9);
    expect(
      parseMysqlVersion('mysqldump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu'),
    ).toMatchObject({
      flavor: 'mariadb',
      major: 10,
      minor: 11,
    });
    expect(parseMysqlVersion('mariadb-dump from 11.4.2-MariaDB, client 10.19')).toMatchObject({
      flavor: 'mariadb',
      major: 11,
      minor: 4,
    });
    expect(parseMysqlVersion('mysqldump  Ver 8.0.36 for Linux on x86_64')).toMatchObject({
      flavor: 'mysql',
      major: 8,
      minor: 0,
    });
    expect(parseMysqlVersion('8.4.1')?.flavor).toBe('mysql');
  });

  const candidate = (major: number, minor = 0) => ({
    dir: `/usr/lib/postgresql/${major}/bin`,
    version: { text: `${major}.${minor}`, major, minor, flavor: 'postgres' as const },
  });

  it('dumps with the same major when installed, else the oldest newer one; never an older one', () => {
    const installed = [
      candidate(14),
      candidate(15, 3),
      candidate(15, 18),
      candidate(17),
      candidate(18),
    ];
    expect(choosePgClient(installed, 15)?.version.text).toBe('15.18');
    expect(choosePgClient(installed, 16)?.version.major).toBe(17);
    expect(choosePgClient(installed, 13)?.version.major).toBe(14);
    expect(choosePgClient([candidate(15)], 18)).toBeUndefined();
    expect(choosePgClient([], 15)).toBeUndefined();
  });

  it('refuses an older MySQL-family client of the same flavor only', () => {
    const v = (text: string) => parseMysqlVersion(text)!;
    expect(mysqlClientProblem(v('10.11.19-MariaDB'), v('11.4.2-MariaDB'))).toMatch(
      /older than the server/,
    );
    expect(mysqlClientProblem(v('10.11.19-MariaDB'), v('10.11.2-MariaDB'))).toBeUndefined();
    expect(mysqlClientProblem(v('Ver 8.0.36'), v('8.4.1'))).toMatch(/older/);
    expect(mysqlClientProblem(v('10.11.19-MariaDB'), v('8.0.36'))).toBeUndefined();
  });
});

describe('backup keys', () => {
  const at = new Date('2026-01-31T12:34:56.789Z');

  it('renders the default template with a sortable timestamp and an encoded database name', () => {
    expect(formatTimestamp(at)).toBe('20260131T123456.789Z');
    const key = renderBackupKey('backups/', DEFAULT_BACKUP_KEY_TEMPLATE, {
      engine: 'postgres',
      database: 'x; touch /tmp/p',
      startedAt: at,
      ext: 'dump.zst',
    });
    expect(key).toBe('backups/postgres/x%3B%20touch%20%2Ftmp%2Fp/20260131T123456.789Z.dump.zst');
    expect(
      renderBackupKey('', '{engine}/{yyyy}/{MM}/{dd}/{database}-{timestamp}.{ext}', {
        engine: 'mysql',
        database: GLOBALS_NAME,
        startedAt: at,
        ext: 'sql',
      }),
    ).toBe('mysql/2026/01/31/@globals-20260131T123456.789Z.sql');
  });

  it('lists the fixed part of the template: one database, or the whole engine', () => {
    expect(backupListPrefix('b/', DEFAULT_BACKUP_KEY_TEMPLATE, 'postgres', 'db/1')).toBe(
      'b/postgres/db%2F1/',
    );
    expect(backupListPrefix('b/', DEFAULT_BACKUP_KEY_TEMPLATE, 'postgres', undefined)).toBe(
      'b/postgres/',
    );
    expect(backupListPrefix('', '{engine}/{yyyy}/{database}-{timestamp}', 'mysql', 'a')).toBe(
      'mysql/',
    );
    expect(backupListPrefix('p/', '{database}-{timestamp}.{ext}', 'mysql', 'a')).toBe('p/');
  });

  it('writes below the folder the prefix names, with or without its slash, as the keys {prefix}/{engine}/...', () => {
    const values = { engine: 'postgres', database: 'app', startedAt: at, ext: 'dump.zst' };
    const expected = 'backups/postgres/app/20260131T123456.789Z.dump.zst';
    expect(renderBackupKey('backups', DEFAULT_BACKUP_KEY_TEMPLATE, values)).toBe(expected);
    expect(renderBackupKey('backups/', DEFAULT_BACKUP_KEY_TEMPLATE, values)).toBe(expected);
    // Listing finds what was written either way (never `backupspostgres/...`).
    expect(backupListPrefix('backups', DEFAULT_BACKUP_KEY_TEMPLATE, 'postgres', 'app')).toBe(
      'backups/postgres/app/',
    );
    expect(backupListPrefix('p', '{database}-{timestamp}.{ext}', 'mysql', 'a')).toBe('p/');
  });

  it('recognises the keys backups get (any database, or one), never a manifest or a stranger', () => {
    const any = backupKeyPattern('b', DEFAULT_BACKUP_KEY_TEMPLATE, 'postgres', undefined);
    const one = backupKeyPattern('b/', DEFAULT_BACKUP_KEY_TEMPLATE, 'postgres', 'db/1');
    for (const ext of ['dump', 'dump.zst', 'sql.gz', 'sql.zst.age', 'sql']) {
      const key = renderBackupKey('b', DEFAULT_BACKUP_KEY_TEMPLATE, {
        engine: 'postgres',
        database: 'db/1',
        startedAt: at,
        ext,
      });
      expect(any.test(key)).toBe(true);
      expect(one.test(key)).toBe(true);
      expect(any.test(`${key}.manifest.json`)).toBe(false);
    }
    expect(any.test('b/postgres/@globals/20260131T123456.789Z.sql.zst')).toBe(true);
    expect(one.test('b/postgres/db/20260131T123456.789Z.dump.zst')).toBe(false);
    expect(any.test('b/mysql/app/20260131T123456.789Z.sql.zst')).toBe(false);
    expect(any.test('b/postgres/app/notes.txt')).toBe(false);
    expect(any.test('bb/postgres/app/20260131T123456.789Z.dump')).toBe(false);
    const dated = backupKeyPattern(
      '',
      '{engine}/{yyyy}/{MM}/{database}-{timestamp}.{ext}',
      'mysql',
      'a.b',
    );
    expect(dated.test('mysql/2026/01/a.b-20260131T123456.789Z.sql.gz')).toBe(true);
    expect(dated.test('mysql/2026/01/aXb-20260131T123456.789Z.sql.gz')).toBe(false);
  });

  it('refuses templates that could make two backups share a key', () => {
    expect(backupKeyTemplateProblems(DEFAULT_BACKUP_KEY_TEMPLATE)).toEqual([]);
    expect(backupKeyTemplateProblems('{engine}/{database}.{ext}').join()).toMatch(/\{timestamp\}/);
    expect(backupKeyTemplateProblems('{engine}/{timestamp}').join()).toMatch(/\{database\}/);
    expect(backupKeyTemplateProblems('{database}/{timestamp}/{nope}').join()).toMatch(
      /unknown placeholder \{nope\}/,
    );
  });

  it('quotes a database name for libpq so it is never read as connection parameters', () => {
    expect(conninfoValue('dbname=postgres host=127.0.0.2')).toBe(
      "'dbname=postgres host=127.0.0.2'",
    );
    expect(conninfoValue("it's \\ odd")).toBe("'it\\'s \\\\ odd'");
  });
});

function entry(startedAt: string, key = `k/${startedAt}`): CatalogEntry {
  return {
    bucket: 'b',
    key,
    manifestKey: `${key}.manifest.json`,
    manifest: { startedAt, database: 'db' } as Manifest,
  };
}

describe('retention', () => {
  const now = new Date('2026-02-10T00:00:00Z');
  const seven = Array.from({ length: 7 }, (_, i) => entry(`2026-02-0${i + 1}T00:00:00.000Z`));

  it('keeps the newest N with --keep-last', () => {
    const plan = planRetention(seven, { keepLast: 3 }, now);
    expect(plan.keep.map((e) => e.manifest.startedAt.slice(0, 10))).toEqual([
      '2026-02-07',
      '2026-02-06',
      '2026-02-05',
    ]);
    expect(plan.remove).toHaveLength(4);
  });

  it('keeps what either rule keeps, and always the newest', () => {
    expect(planRetention(seven, { keepDays: 5.5 }, now).keep).toHaveLength(3);
    expect(planRetention(seven, { keepLast: 1, keepDays: 5.5 }, now).keep).toHaveLength(3);
    expect(planRetention(seven, { keepLast: 4, keepDays: 5.5 }, now).keep).toHaveLength(4);
    const old = [entry('2020-01-01T00:00:00.000Z'), entry('2019-01-01T00:00:00.000Z')];
    const plan = planRetention(old, { keepDays: 1 }, now);
    expect(plan.keep.map((e) => e.manifest.startedAt)).toEqual(['2020-01-01T00:00:00.000Z']);
    expect(plan.remove).toHaveLength(1);
  });

  it('removes nothing without a rule', () => {
    expect(planRetention(seven, {}, now).remove).toEqual([]);
  });

  it('takes a backup object without a manifest once it is older than --sweep-age; 0 takes none', () => {
    const orphan = (minutesAgo: number) => ({
      bucket: 'b',
      key: `k/${minutesAgo}`,
      lastModified: new Date(now.getTime() - minutesAgo * 60_000),
    });
    const orphans = [orphan(5), orphan(90), orphan(60 * 48)];
    expect(staleOrphans(orphans, 3_600_000, now).map((o) => o.key)).toEqual(['k/90', 'k/2880']);
    expect(staleOrphans(orphans, 24 * 3_600_000, now).map((o) => o.key)).toEqual(['k/2880']);
    expect(staleOrphans(orphans, 0, now)).toEqual([]);
  });
});

describe('connections and secrets', () => {
  it('takes options over the standard variables over the URL, and never needs a password option', async () => {
    const c = await resolveConnection(
      databaseBackupConfigSchema.parse({
        engine: 'postgres',
        database: ['a'],
        output: 's3://bkt/p/',
        port: 6000,
        connectionUrlEnv: 'DB_URL',
      }),
      {
        PGHOST: 'envhost',
        DB_URL: 'postgresql://urluser:p%40ss%3Aword@urlhost:5433/urldb?sslmode=require',
      },
    );
    expect(c).toMatchObject({
      host: 'envhost',
      port: 6000,
      user: 'urluser',
      password: 'p@ss:word',
      maintenanceDatabase: 'urldb',
    });
    expect(c.extraEnv.PGSSLMODE).toBe('require');
  });

  it('takes --ssl-mode and --ssl-root-cert over PGSSLMODE and the URL, and prefer when nobody says', async () => {
    const pg = (extra: Record<string, unknown>, env: NodeJS.ProcessEnv) =>
      resolveConnection(
        databaseBackupConfigSchema.parse({
          engine: 'postgres',
          database: ['a'],
          output: 's3://bkt/p/',
          connectionUrlEnv: 'DB_URL',
          ...extra,
        }),
        { DB_URL: 'postgresql://h/db?sslmode=require&sslrootcert=/url.pem', ...env },
      );
    const fromOptions = await pg(
      { sslMode: 'verify-full', sslRootCert: '/ca.pem' },
      { PGSSLMODE: 'disable' },
    );
    expect(fromOptions.extraEnv).toMatchObject({
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: '/ca.pem',
    });
    expect((await pg({}, { PGSSLMODE: 'disable' })).extraEnv.PGSSLMODE).toBe('disable');
    expect((await pg({}, {})).extraEnv).toMatchObject({
      PGSSLMODE: 'require',
      PGSSLROOTCERT: '/url.pem',
    });
    const plain = await resolveConnection(
      databaseBackupConfigSchema.parse({
        engine: 'postgres',
        database: ['a'],
        output: 's3://bkt/p/',
      }),
      {},
    );
    expect(plain.extraEnv.PGSSLMODE).toBe('prefer');
    const mysql = await resolveConnection(
      databaseRestoreConfigSchema.parse({ engine: 'mysql', input: 's3://bkt/p/', database: 'x' }),
      {},
    );
    expect(mysql).toMatchObject({ sslMode: 'prefer' });
    expect(mysql.sslRootCert).toBeUndefined();
  });

  it('gives each MySQL-family client the TLS flags of its own family', () => {
    expect(mysqlClientFlavor('mariadb from 11.8.9-MariaDB, client 15.2 for debian-linux-gnu')).toBe(
      'mariadb',
    );
    expect(
      mysqlClientFlavor('mysql  Ver 15.1 Distrib 10.11.19-MariaDB, for debian-linux-gnu'),
    ).toBe('mariadb');
    expect(
      mysqlClientFlavor('mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)'),
    ).toBe('mysql');
    // MariaDB: unchecked TLS falls back to plain; a checked one is required.
    expect(mysqlTlsArgs('mariadb', 'disable', '/ca.pem')).toEqual(['--skip-ssl']);
    expect(mysqlTlsArgs('mariadb', 'prefer')).toEqual(['--ssl', '--skip-ssl-verify-server-cert']);
    for (const mode of ['require', 'verify-ca', 'verify-full'] as const) {
      expect(mysqlTlsArgs('mariadb', mode, '/ca.pem')).toEqual([
        '--ssl',
        '--ssl-verify-server-cert',
        '--ssl-ca=/ca.pem',
      ]);
    }
    expect(mysqlTlsArgs('mysql', 'disable')).toEqual(['--ssl-mode=DISABLED']);
    expect(mysqlTlsArgs('mysql', 'prefer')).toEqual(['--ssl-mode=PREFERRED']);
    expect(mysqlTlsArgs('mysql', 'require')).toEqual(['--ssl-mode=REQUIRED']);
    expect(mysqlTlsArgs('mysql', 'verify-ca', '/ca.pem')).toEqual([
      '--ssl-mode=VERIFY_CA',
      '--ssl-ca=/ca.pem',
    ]);
    expect(mysqlTlsArgs('mysql', 'verify-full')).toEqual(['--ssl-mode=VERIFY_IDENTITY']);
  });

  it('names the URL variable, never its value, when it is wrong', async () => {
    const config = databaseRestoreConfigSchema.parse({
      engine: 'mysql',
      input: 's3://bkt/p/',
      database: 'x',
      connectionUrlEnv: 'DB_URL',
    });
    const err = await resolveConnection(config, { DB_URL: 'postgres://u:s3cret-value@h/db' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toMatch(/DB_URL holds a postgres URL/);
    expect(String((err as Error).message)).not.toContain('s3cret-value');
  });

  it('writes a secret file 0600 in a 0700 folder, on Linux without a name (a tool opens it by its descriptor 3), and removes it', async () => {
    const parent = mkdtempSync(join(tmpdir(), 's3worker-secret-test-'));
    try {
      const dir = await SecretDir.create(parent);
      const file = await dir.write('pgpass', '*:*:*:*:pw\n');
      expect(statSync(dir.path).mode & 0o777).toBe(0o700);
      if (process.platform === 'linux') {
        expect(readdirSync(dir.path)).toEqual([]);
        expect(file).toMatchObject({ path: `/proc/self/fd/${SECRET_FD}`, fd: expect.any(Number) });
        const tool = spawnSync('cat', [file.path], { stdio: ['ignore', 'pipe', 'pipe', file.fd!] });
        expect(tool.stdout.toString()).toBe('*:*:*:*:pw\n');
        expect(fstatSync(file.fd!).mode & 0o777).toBe(0o600);
      } else {
        expect(statSync(file.path).mode & 0o777).toBe(0o600);
      }
      await dir.dispose();
      expect(() => statSync(dir.path)).toThrow();
      if (file.fd !== undefined) expect(() => fstatSync(file.fd!)).toThrow();
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('reads the password from a file', async () => {
    const parent = mkdtempSync(join(tmpdir(), 's3worker-pwfile-test-'));
    try {
      const file = join(parent, 'pw');
      writeFileSync(file, 'from-file\n');
      const c = await resolveConnection(
        databaseBackupConfigSchema.parse({
          engine: 'mysql',
          database: ['a'],
          output: 's3://bkt/p/',
          passwordFile: file,
        }),
        { MYSQL_PWD: 'from-env' },
      );
      expect(c.password).toBe('from-file');
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('masks secrets in tool output', () => {
    expect(maskSecrets('FATAL: bad hunter22 given', ['hunter22'])).toBe(
      'FATAL: bad [redacted] given',
    );
  });
});

describe('permissions', () => {
  const backup = (extra: Record<string, unknown>) =>
    new DatabaseBackupJob(
      databaseBackupConfigSchema.parse({
        engine: 'postgres',
        database: ['a'],
        output: 's3://bkt/p/',
        ...extra,
      }),
    );

  it('without retention, the backup task may only write (and abort its own uploads)', () => {
    const actions = backup({})
      .permissions()
      .map((p) => p.action);
    expect(actions.sort()).toEqual([
      's3:AbortMultipartUpload',
      's3:ListBucketMultipartUploads',
      's3:PutObject',
    ]);
  });

  it('with retention, it may also list, read and delete under its prefix; with --dry-run not delete', () => {
    const perms = backup({ keepLast: 3 }).permissions();
    expect(perms.map((p) => p.action)).toEqual(
      expect.arrayContaining(['s3:ListBucket', 's3:GetObject', 's3:DeleteObject']),
    );
    expect(perms.every((p) => p.bucket === 'bkt' && p.prefix === 'p/')).toBe(true);
    const dry = backup({ keepLast: 3, dryRun: true, retentionOnly: true }).permissions();
    expect(dry.map((p) => p.action).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
  });

  it('the restore task may only read', () => {
    const job = new DatabaseRestoreJob(
      databaseRestoreConfigSchema.parse({
        engine: 'postgres',
        input: 's3://bkt/p/',
        database: 'x',
      }),
    );
    expect(
      job
        .permissions()
        .map((p) => p.action)
        .sort(),
    ).toEqual(['s3:GetObject', 's3:ListBucket']);
  });

  it('lists every config problem at once', () => {
    const err = (() => {
      try {
        backup({
          database: [],
          dryRun: true,
          recipient: ['not-a-key'],
          engine: 'mysql',
          pgBinDir: '/opt/pg/bin',
        });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['database', 'pgBinDir', 'dryRun', 'recipient']),
    );
  });
});
