/**
 * The db-backup and db-restore tasks holding exactly `s3worker policy <job> ...` (as a MinIO
 * user): the job runs, `doctor` passes, and what the policy must forbid is forbidden — the
 * backup task without retention cannot read or delete a backup, the restore task cannot write.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DoctorReport } from '../../src/doctor/run-doctor.js';
import { ExitCode } from '../../src/errors.js';
import { allOutput, backupsUnder } from '../fixtures/db-backup/backup-harness.js';
import { PgAdmin, uniqueDatabaseName } from '../fixtures/db-backup/sql-harness.js';
import { createUserWithPolicy, type Keys } from '../support/minio-admin.js';
import { runCli } from '../support/run-cli.js';
import { adminClient } from '../support/s3.js';
import { useTestBucket } from '../support/test-bucket.js';

const servers = inject('servers');
const pg = new PgAdmin(servers.postgres);
const bucket = useTestBucket(servers.s3, 'dbb-pol');

let tmp: string;
let database: string;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-dbb-pol-'));
  database = uniqueDatabaseName('dbb_pol');
  await pg.create(database);
  await pg.sql(database, 'CREATE TABLE t (v text)', "INSERT INTO t VALUES ('kept')");
});
afterAll(async () => {
  await pg.drop(database);
  rmSync(tmp, { recursive: true, force: true });
});

function envFor(keys: Keys): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
    AWS_REGION: servers.s3.region,
    S3WORKER_ENDPOINT: servers.s3.endpoint,
    S3WORKER_TMPDIR: tmp,
    ...pg.jobEnv(),
  };
}

/** A MinIO user holding exactly the policy `s3worker policy` prints for these arguments. */
async function userWithGeneratedPolicy(args: string[]) {
  const generated = await runCli(['policy', ...args]);
  expect(generated.code, generated.stderr).toBe(0);
  return createUserWithPolicy(servers.s3, JSON.parse(generated.stdout), 'dbb');
}

async function doctor(keys: Keys, args: string[]): Promise<DoctorReport> {
  const r = await runCli(['doctor', ...args, '--json'], {
    env: { ...envFor(keys), S3WORKER_LOG_LEVEL: 'warn' },
  });
  const report = JSON.parse(r.stdout) as DoctorReport;
  const failed = report.checks.filter((c) => c.verdict === 'fail');
  expect(failed, JSON.stringify(failed)).toEqual([]);
  expect(r.code).toBe(ExitCode.Success);
  return report;
}

function userClient(keys: Keys): S3Client {
  return adminClient(servers.s3, {
    credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey },
    maxAttempts: 1,
  });
}

async function denied(request: Promise<unknown>): Promise<string | undefined> {
  return request.then(
    () => undefined,
    (e: { name?: string }) => e.name,
  );
}

describe('the generated db-backup and db-restore policies', () => {
  it('without retention, the backup task writes backups but cannot read or delete them; doctor passes', async () => {
    const args = [
      'db-backup',
      '--engine',
      'postgres',
      `--database=${database}`,
      '--output',
      `s3://${bucket.name}/plain/`,
    ];
    const user = await userWithGeneratedPolicy(args);
    const client = userClient(user);
    try {
      await doctor(user, args);
      const r = await runCli(['run', ...args, '--log-format', 'json'], { env: envFor(user) });
      expect(r.code, allOutput(r)).toBe(ExitCode.Success);
      const { manifests } = await backupsUnder(bucket.admin, bucket.name, 'plain/');
      const key = manifests[0]!.key;
      expect(
        await denied(client.send(new GetObjectCommand({ Bucket: bucket.name, Key: key }))),
      ).toBe('AccessDenied');
      expect(
        await denied(client.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: key }))),
      ).toBe('AccessDenied');
      expect(
        await denied(
          client.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'elsewhere/x', Body: 'x' })),
        ),
      ).toBe('AccessDenied');
    } finally {
      client.destroy();
      await user.remove();
    }
  });

  it('with --keep-last, the backup task may also read manifests and delete old backups; doctor passes', async () => {
    const args = [
      'db-backup',
      '--engine',
      'postgres',
      `--database=${database}`,
      '--output',
      `s3://${bucket.name}/kept/`,
      '--keep-last',
      '1',
    ];
    const user = await userWithGeneratedPolicy(args);
    try {
      await doctor(user, args);
      for (let i = 0; i < 2; i++) {
        const r = await runCli(['run', ...args, '--log-format', 'json'], { env: envFor(user) });
        expect(r.code, allOutput(r)).toBe(ExitCode.Success);
      }
      expect((await backupsUnder(bucket.admin, bucket.name, 'kept/')).manifests).toHaveLength(1);
    } finally {
      await user.remove();
    }
  });

  it('the restore task restores, and cannot write; doctor passes', async () => {
    const prefix = 'plain/';
    const target = uniqueDatabaseName('dbb_pol_dst');
    const args = [
      'db-restore',
      '--engine',
      'postgres',
      '--input',
      `s3://${bucket.name}/${prefix}`,
      `--from-database=${database}`,
      `--database=${target}`,
      '--create-database',
    ];
    const user = await userWithGeneratedPolicy(args);
    const client = userClient(user);
    try {
      await doctor(user, args);
      const r = await runCli(['run', ...args, '--log-format', 'json'], { env: envFor(user) });
      expect(r.code, allOutput(r)).toBe(ExitCode.Success);
      expect(await pg.sql(target, 'SELECT v FROM t')).toBe('kept\n');
      expect(
        await denied(
          client.send(new PutObjectCommand({ Bucket: bucket.name, Key: `${prefix}x`, Body: 'x' })),
        ),
      ).toBe('AccessDenied');
    } finally {
      client.destroy();
      await user.remove();
      await pg.drop(target);
    }
  });
});
