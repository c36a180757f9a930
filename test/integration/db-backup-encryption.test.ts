import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { allOutput, backupsUnder, messages } from '../fixtures/db-backup/backup-harness.js';
import { MysqlAdmin, PgAdmin, uniqueDatabaseName } from '../fixtures/db-backup/sql-harness.js';
import { getBytes, sha256 } from '../fixtures/stream-transform/harness.js';
import { runCli, workerEnv } from '../support/run-cli.js';
import { useTestBucket } from '../support/test-bucket.js';

const servers = inject('servers');
const pg = new PgAdmin(servers.postgres);
const my = new MysqlAdmin(servers.mysql);
const bucket = useTestBucket(servers.s3, 'dbb-age');

let tmp: string;
let identity: string;
let recipient: string;
const pgDatabases: string[] = [];
const myDatabases: string[] = [];
beforeAll(async () => {
  identity = await generateX25519Identity();
  recipient = await identityToRecipient(identity);
});
afterAll(async () => {
  for (const db of pgDatabases) await pg.drop(db);
  for (const db of myDatabases) await my.drop(db);
});
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-dbb-age-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('db-backup encryption to age recipients', () => {
  it('round-trips an encrypted PostgreSQL backup: the stored object is age ciphertext, only the identity restores it', async () => {
    const source = uniqueDatabaseName('dbb_age');
    pgDatabases.push(source);
    await pg.create(source);
    await pg.seed(source, 1);
    const prefix = 'pg/';
    const env = workerEnv(servers.s3, tmp, pg.jobEnv());
    const backup = await runCli(
      [
        'run',
        'db-backup',
        '--engine',
        'postgres',
        `--database=${source}`,
        '--output',
        `s3://${bucket.name}/${prefix}`,
        '--recipient',
        recipient,
        '--log-format',
        'json',
      ],
      { env },
    );
    expect(backup.code, allOutput(backup)).toBe(ExitCode.Success);
    expect(allOutput(backup)).not.toContain(identity);
    const { manifests } = await backupsUnder(bucket.admin, bucket.name, prefix);
    const m = manifests[0]!;
    expect(m.key.endsWith('.dump.zst.age')).toBe(true);
    expect(m.encryption).toEqual({ type: 'age', recipients: [recipient] });
    const stored = await getBytes(bucket.admin, bucket.name, m.key);
    expect(stored.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(sha256(stored)).toBe(m.sha256);
    // The age and zstd command line tools read it: a backup outlives s3worker.
    const keyFile = join(tmp, 'restore.key');
    writeFileSync(keyFile, `${identity}\n`, { mode: 0o600 });
    const compressed = execFileSync('age', ['-d', '-i', keyFile], {
      input: stored,
      maxBuffer: 1 << 28,
    });
    const raw = execFileSync('zstd', ['-d', '-q', '-c'], { input: compressed, maxBuffer: 1 << 28 });
    expect(raw.length).toBe(m.rawBytes);
    expect(raw.subarray(0, 5).toString()).toBe('PGDMP');

    const target = uniqueDatabaseName('dbb_age_dst');
    pgDatabases.push(target);
    const restoreArgs = [
      'run',
      'db-restore',
      '--engine',
      'postgres',
      '--input',
      `s3://${bucket.name}/${prefix}`,
      `--from-database=${source}`,
      `--database=${target}`,
      '--create-database',
      '--log-format',
      'json',
    ];
    const restore = await runCli(restoreArgs, { env: { ...env, AGE_IDENTITY: identity } });
    expect(restore.code, allOutput(restore)).toBe(ExitCode.Success);
    expect(allOutput(restore)).not.toContain(identity);
    expect(await pg.fingerprint(target)).toEqual(await pg.fingerprint(source));
  });

  it('refuses a restore with the wrong key, clearly, before touching the database; and one with no key', async () => {
    const source = uniqueDatabaseName('dbb_age_my');
    myDatabases.push(source);
    await my.create(source);
    await my.seed(source, 1);
    const prefix = 'my/';
    const env = workerEnv(servers.s3, tmp, my.jobEnv());
    const recipientsFile = join(tmp, 'recipients.txt');
    writeFileSync(recipientsFile, `# the restore task's key\n${recipient}\n`);
    const backup = await runCli(
      [
        'run',
        'db-backup',
        '--engine',
        'mysql',
        `--database=${source}`,
        '--output',
        `s3://${bucket.name}/${prefix}`,
        '--recipients-file',
        recipientsFile,
        '--compression',
        'gzip',
        '--log-format',
        'json',
      ],
      { env },
    );
    expect(backup.code, allOutput(backup)).toBe(ExitCode.Success);

    const wrongFile = join(tmp, 'wrong.key');
    writeFileSync(wrongFile, `${await generateX25519Identity()}\n`, { mode: 0o600 });
    const target = uniqueDatabaseName('dbb_age_my_dst');
    myDatabases.push(target);
    const restoreArgs = [
      'run',
      'db-restore',
      '--engine',
      'mysql',
      '--input',
      `s3://${bucket.name}/${prefix}`,
      `--from-database=${source}`,
      `--database=${target}`,
      '--create-database',
      '--log-format',
      'json',
    ];
    const wrong = await runCli([...restoreArgs, '--identity-file', wrongFile], { env });
    expect(wrong.code).toBe(ExitCode.ObjectsFailed);
    expect(allOutput(wrong)).toMatch(/cannot decrypt the backup: no identity matched/);
    expect(messages(wrong)).not.toContain('restore starting');
    expect(await my.exists(target)).toBe(false);

    const none = await runCli(restoreArgs, { env });
    expect(none.code).toBe(ExitCode.Config);
    expect(allOutput(none)).toMatch(/encrypted and no age identity was given/);

    const rightFile = join(tmp, 'right.key');
    writeFileSync(rightFile, `# created for the test\n${identity}\n`, { mode: 0o600 });
    const right = await runCli([...restoreArgs, '--identity-file', rightFile], { env });
    expect(right.code, allOutput(right)).toBe(ExitCode.Success);
    expect(await my.fingerprint(target)).toEqual(await my.fingerprint(source));
  });
});
