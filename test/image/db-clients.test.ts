/**
 * db-backup and db-restore in the image, with the image's own database clients: PostgreSQL 15
 * and 18 and MariaDB, each backed up to MinIO and restored into a new database with the same
 * content. The containers run as users run them: read-only root, a scratch volume, the
 * password by name (`-e PGPASSWORD`, never its value in argv) or from a mounted secret file.
 */
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import type { Manifest } from '../../src/jobs/db-backup/manifest.js';
import { backupsUnder } from '../fixtures/db-backup/backup-harness.js';
import { MysqlAdmin, PgAdmin, uniqueDatabaseName } from '../fixtures/db-backup/sql-harness.js';
import { readServicesEnvFile } from '../support/servers.js';
import { useTestBucket } from '../support/test-bucket.js';
import { type EngineEnv, type EngineResult, runImage } from './support/container-engine.js';
import {
  IMAGE_UID,
  keysFromEnvironment,
  logLines,
  passByName,
  readOnlyRoot,
  SCRATCH,
  scratchFolder,
} from './support/worker-run.js';

const servers = inject('servers');

/** The port of the second PostgreSQL major (18) scripts/test-services.sh starts. */
function pg18Port(): number {
  const env = process.env.PG18_PORT ? process.env : (readServicesEnvFile() ?? {});
  return Number(env.PG18_PORT ?? process.env.S3WORKER_PG18_PORT ?? 25433);
}

const pg15 = new PgAdmin(servers.postgres);
// The 18 server has only the default databases: its admin connects to `postgres`.
const pg18 = new PgAdmin({ ...servers.postgres, port: pg18Port(), database: 'postgres' });
const maria = new MysqlAdmin(servers.mysql);
const bucket = useTestBucket(servers.s3, 'img-db');

const created: Array<[PgAdmin | MysqlAdmin, string]> = [];
afterAll(async () => {
  for (const [admin, db] of created) await admin.drop(db);
});

/** A new database on `admin`'s server, seeded with what a backup must carry; dropped later. */
async function seeded(admin: PgAdmin | MysqlAdmin, prefix: string): Promise<string> {
  const name = uniqueDatabaseName(prefix);
  created.push([admin, name]);
  await admin.create(name);
  await admin.seed(name, 1);
  return name;
}

/** A database name dropped after the file (the restore creates it). */
function target(admin: PgAdmin | MysqlAdmin, prefix: string): string {
  const name = uniqueDatabaseName(prefix);
  created.push([admin, name]);
  return name;
}

/**
 * The password as an ECS secret file: a host file mounted read-only at /run/secrets/db-password,
 * readable by the image's user alone; removed when the test finishes.
 */
function secretFile(password: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 's3worker-image-secret-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'db-password');
  writeFileSync(file, `${password}\n`);
  chownSync(file, IMAGE_UID, IMAGE_UID);
  chmodSync(file, 0o400);
  chmodSync(dir, 0o755);
  return ['-v', `${file}:/run/secrets/db-password:ro`];
}

/** How a run gets its database password into the container. */
type PasswordFrom = 'env' | 'file';

/**
 * `run <job> --engine <engine> ...` in the image: read-only root, scratch volume, S3 keys and the
 * database connection by name, the password by name or from a mounted secret file.
 */
async function run(
  admin: PgAdmin | MysqlAdmin,
  passwordFrom: PasswordFrom,
  job: 'db-backup' | 'db-restore',
  prefix: string,
  ...extra: string[]
): Promise<EngineResult & { logs: Array<Record<string, unknown>> }> {
  const keys = keysFromEnvironment(servers.s3);
  const pg = admin instanceof PgAdmin;
  const connection = admin.jobEnv();
  const password = admin.server.password;
  // The password variable is left out of a run that reads it from the secret file.
  const passwordVar = pg ? 'PGPASSWORD' : 'MYSQL_PWD';
  const names = Object.keys(connection).filter((n) => passwordFrom === 'env' || n !== passwordVar);
  const env: EngineEnv = { ...keys.env, ...connection };
  const result = await runImage(
    [
      ...readOnlyRoot(),
      '-v',
      `${scratchFolder()}:${SCRATCH}`,
      ...keys.flags,
      ...passByName(names),
      '-e',
      `S3WORKER_ENDPOINT=${servers.s3.endpoint}`,
      ...(passwordFrom === 'file' ? secretFile(password) : []),
    ],
    [
      'run',
      job,
      '--engine',
      pg ? 'postgres' : 'mysql',
      job === 'db-backup' ? '--output' : '--input',
      `s3://${bucket.name}/${prefix}`,
      '--log-format',
      'json',
      ...(passwordFrom === 'file' ? ['--password-file', '/run/secrets/db-password'] : []),
      ...extra,
    ],
    { env },
  );
  // Whatever happened, the password is in no line the container printed.
  expect(`${result.stdout}${result.stderr}`).not.toContain(password);
  return { ...result, logs: logLines(result.stdout) };
}

const output = (r: EngineResult) => `${r.stdout}\n${r.stderr}`.slice(-4000);

/** The single manifest under `prefix`. */
async function manifestUnder(prefix: string): Promise<Manifest> {
  const { manifests } = await backupsUnder(bucket.admin, bucket.name, prefix);
  expect(manifests).toHaveLength(1);
  return manifests[0]!;
}

/** What a backup-and-restore round trip gives a test to check further. */
interface RoundTrip {
  manifest: Manifest;
  backup: Awaited<ReturnType<typeof run>>;
  restore: Awaited<ReturnType<typeof run>>;
}

/**
 * A seeded database backed up under `name/` and restored into a new database with
 * `--create-database` (the password from `backupPassword` and `restorePassword`): both runs
 * succeed and the copy's fingerprint is the original's.
 */
async function roundTrip(
  admin: PgAdmin | MysqlAdmin,
  name: string,
  backupPassword: PasswordFrom,
  restorePassword: PasswordFrom,
): Promise<RoundTrip> {
  const db = await seeded(admin, `img_${name}`);
  const prefix = `${name}/`;
  const backup = await run(admin, backupPassword, 'db-backup', prefix, `--database=${db}`);
  expect(backup.code, output(backup)).toBe(ExitCode.Success);
  const manifest = await manifestUnder(prefix);

  const copy = target(admin, `img_${name}_dst`);
  const restore = await run(
    admin,
    restorePassword,
    'db-restore',
    prefix,
    `--from-database=${db}`,
    `--database=${copy}`,
    '--create-database',
  );
  expect(restore.code, output(restore)).toBe(ExitCode.Success);
  expect(await admin.fingerprint(copy)).toEqual(await admin.fingerprint(db));
  return { manifest, backup, restore };
}

describe('db-backup and db-restore with the image database clients', () => {
  it('PostgreSQL 15 (password by -e): dumped by its own major, 15, and restored into 15 with the same content', async () => {
    const { manifest, restore } = await roundTrip(pg15, 'pg15', 'env', 'env');
    // 15 and not the image's 17: pg_restore 17 starts every restore with SET
    // transaction_timeout, which a 15 server rejects, and only pg_restore 17+ reads 17's archives.
    expect(manifest).toMatchObject({
      serverMajor: 15,
      dumpToolMajor: 15,
      dumpToolVersion: expect.stringMatching(/^15\./),
    });
    expect(restore.logs.find((l) => l.msg === 'database client chosen')).toMatchObject({
      serverVersion: expect.stringMatching(/^15\./),
      clientVersion: expect.stringMatching(/^15\./),
    });
  });

  it('PostgreSQL 15: a backup dumped by the 17 client is refused for a 15 server before the target is created, naming transaction_timeout', async () => {
    const db = await seeded(pg15, 'img_pg15by17');
    const prefix = 'pg15by17/';
    const backup = await run(
      pg15,
      'env',
      'db-backup',
      prefix,
      `--database=${db}`,
      '--pg-bin-dir',
      '/usr/lib/postgresql/17/bin',
    );
    expect(backup.code, output(backup)).toBe(ExitCode.Success);
    expect(await manifestUnder(prefix)).toMatchObject({ serverMajor: 15, dumpToolMajor: 17 });

    const copy = target(pg15, 'img_pg15by17_dst');
    const restore = await run(
      pg15,
      'env',
      'db-restore',
      prefix,
      `--from-database=${db}`,
      `--database=${copy}`,
      '--create-database',
    );
    expect(restore.code, output(restore)).toBe(ExitCode.Config);
    const error = restore.logs.find((l) => l.level === 'error');
    expect(error).toMatchObject({ code: 'DB_VERSION_MISMATCH' });
    expect(String(error?.msg)).toMatch(/dumped by pg_dump 17.*SET transaction_timeout.*15\./);
    expect(await pg15.exists(copy)).toBe(false);
  });

  it('PostgreSQL 18 (password from a mounted secret file): dumped and restored by the 18 client', async () => {
    const { manifest } = await roundTrip(pg18, 'pg18', 'file', 'file');
    expect(manifest).toMatchObject({ serverMajor: 18, dumpToolMajor: 18 });
  });

  it('MariaDB (password by -e, then from a secret file): the 11.8 client reaches a server without TLS under the default --ssl-mode prefer, and the restore has the same content', async () => {
    // MariaDB 11.4+ clients require TLS by default once a password is given: without the
    // job's own TLS flags the backup failed with "SSL is required, but the server does not
    // support it".
    const { manifest, backup } = await roundTrip(maria, 'maria', 'env', 'file');
    expect(backup.logs.find((l) => l.msg === 'db-backup starting')).toMatchObject({
      sslMode: 'prefer',
    });
    expect(manifest).toMatchObject({
      engine: 'mysql',
      dumpToolVersion: expect.stringMatching(/^11\.8\./),
    });
  });

  it('MariaDB: --ssl-mode verify-full is not weakened: against a server without TLS it fails before any upload', async () => {
    const db = await seeded(maria, 'img_maria_tls');
    const prefix = 'maria-tls/';
    const backup = await run(
      maria,
      'env',
      'db-backup',
      prefix,
      `--database=${db}`,
      '--ssl-mode',
      'verify-full',
    );
    expect(backup.code, output(backup)).toBe(ExitCode.ObjectsFailed);
    expect(output(backup)).toMatch(/SSL is required, but the server does not support it/);
    expect((await backupsUnder(bucket.admin, bucket.name, prefix)).keys).toEqual([]);
  });
});
