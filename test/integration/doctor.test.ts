import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { doctorCommand } from '../../src/cli/commands/doctor.js';
import type { DoctorReport } from '../../src/doctor/run-doctor.js';
import { runDoctor } from '../../src/doctor/run-doctor.js';
import { ExitCode } from '../../src/errors.js';
import { createLogger } from '../../src/runtime/logger.js';
import {
  createTaskRoleMinter,
  type EcsCredentialsEndpoint,
  startEcsCredentialsEndpoint,
} from '../support/ecs-credentials-endpoint.js';
import { bucketReadWritePolicy, type PolicyDocument } from '../support/minio-admin.js';
import { adminClient, createTestBucket } from '../support/s3.js';

describe('s3worker doctor with task-role-like credentials (MinIO STS, least privilege)', () => {
  const { s3 } = inject('servers');
  const admin = adminClient(s3);
  let allowed: { name: string; remove: () => Promise<void> };
  let denied: { name: string; remove: () => Promise<void> };
  let role: Awaited<ReturnType<typeof createTaskRoleMinter>>;
  let endpoint: EcsCredentialsEndpoint;
  const token = `token-${randomBytes(12).toString('hex')}`;

  const env = (): NodeJS.ProcessEnv => ({
    AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.url,
    AWS_CONTAINER_AUTHORIZATION_TOKEN: token,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_REGION: s3.region,
  });

  /** Every key and multipart upload in a bucket, seen with the root keys. */
  async function contents(bucket: string) {
    const objects = await admin.send(new ListObjectsV2Command({ Bucket: bucket }));
    const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    return {
      keys: (objects.Contents ?? []).map((o) => o.Key),
      uploads: (uploads.Uploads ?? []).map((u) => u.Key),
    };
  }

  /** Runs `fn` with the environment of a task whose role is confined by `policy` (no token). */
  async function withRole<T>(
    policy: PolicyDocument,
    fn: (env: NodeJS.ProcessEnv) => Promise<T>,
  ): Promise<T> {
    const other = await createTaskRoleMinter(s3, policy);
    const otherEndpoint = await startEcsCredentialsEndpoint({ mint: other.mint });
    try {
      return await fn({
        AWS_CONTAINER_CREDENTIALS_FULL_URI: otherEndpoint.url,
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_REGION: s3.region,
      });
    } finally {
      await otherEndpoint.close();
      await other.remove();
    }
  }

  beforeAll(async () => {
    allowed = await createTestBucket(admin, 'doctor-ok');
    denied = await createTestBucket(admin, 'doctor-denied');
    await admin.send(
      new PutObjectCommand({ Bucket: allowed.name, Key: 'in/a.txt', Body: 'input' }),
    );
    await admin.send(new PutObjectCommand({ Bucket: denied.name, Key: 'in/a.txt', Body: 'input' }));
    // The seed's least-privilege policy, plus the abort a job needs to clean up a failed upload.
    const policy = bucketReadWritePolicy(allowed.name);
    policy.Statement.push({
      Effect: 'Allow',
      Action: ['s3:AbortMultipartUpload'],
      Resource: [`arn:aws:s3:::${allowed.name}/*`],
    });
    role = await createTaskRoleMinter(s3, policy);
    endpoint = await startEcsCredentialsEndpoint({ token, mint: role.mint });
  });

  afterAll(async () => {
    await endpoint?.close();
    await allowed?.remove();
    await denied?.remove();
    await role?.remove();
    admin.destroy();
  });

  it('passes every probe on the allowed bucket, exits 0 and leaves nothing behind', async () => {
    let printed = '';
    const code = await doctorCommand(
      [
        '--input',
        `s3://${allowed.name}/in/`,
        '--output',
        `s3://${allowed.name}/out/`,
        '--json',
        '--log-level',
        'warn',
      ],
      env(),
      (text) => {
        printed += text;
      },
    );
    const report = JSON.parse(printed) as DoctorReport;
    expect(report.checks.map((c) => [c.name, c.permission, c.verdict])).toEqual([
      ['resolve credentials', '-', 'pass'],
      ['list input', 's3:ListBucket', 'pass'],
      ['read an input object', 's3:GetObject', 'pass'],
      ['write outputs', 's3:PutObject', 'pass'],
      ['abort failed uploads', 's3:AbortMultipartUpload', 'pass'],
    ]);
    expect(code).toBe(ExitCode.Success);
    expect(report.ok).toBe(true);
    expect(report.credentials?.source).toBe('container-full-uri');
    expect(report.credentials?.expiration).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(report.region).toBe(s3.region);
    expect(report.endpoint).toBe(s3.endpoint);
    // MinIO has no GetCallerIdentity; AWS would give the role's ARN.
    expect(report.identity).toEqual({
      unavailable: expect.stringMatching(/^not available from this endpoint/),
    });
    expect(report.leftovers).toEqual([]);
    expect(await contents(allowed.name)).toEqual({ keys: ['in/a.txt'], uploads: [] });
  });

  it('fails each probe on a bucket outside the policy with the fix, exits 12 and leaves nothing behind', async () => {
    const lines: string[] = [];
    const log = createLogger({
      level: 'debug',
      format: 'json',
      destination: { write: (line: string) => void lines.push(line) },
    });
    const report = await runDoctor({
      aws: { env: env() },
      input: { bucket: denied.name, prefix: 'in/' },
      output: { bucket: denied.name, prefix: 'out/' },
      log,
    });
    // Debug logs of the whole run: no key id, secret or session token (counted, never printed).
    const text = lines.join('');
    expect(text).toContain('aws credentials fetched');
    const secrets = role.minted.flatMap((c) => [c.accessKeyId, c.secretAccessKey, c.sessionToken]);
    expect(secrets.length).toBeGreaterThan(0);
    expect(secrets.filter((x) => text.includes(x)).length).toBe(0);
    expect(report.checks.map((c) => [c.name, c.verdict, c.code])).toEqual([
      ['resolve credentials', 'pass', undefined],
      ['list input', 'fail', 'ACCESS_DENIED'],
      // Without the listing S3 answers 403 for a missing key too: the read cannot be told.
      ['read an input object', 'skip', undefined],
      ['write outputs', 'fail', 'ACCESS_DENIED'],
      ['abort failed uploads', 'fail', 'ACCESS_DENIED'],
    ]);
    expect(report.ok).toBe(false);
    expect(report.exitCode).toBe(ExitCode.AccessDenied);
    const list = report.checks[1]!;
    expect(list.fix).toContain(`"Resource": "arn:aws:s3:::${denied.name}"`);
    const write = report.checks[3]!;
    expect(write.fix).toContain('"Action": "s3:PutObject"');
    expect(write.fix).toContain(`arn:aws:s3:::${denied.name}/out/.s3worker-doctor-`);
    expect(await contents(denied.name)).toEqual({ keys: ['in/a.txt'], uploads: [] });
  });

  it('prints a table with one verdict per permission and what to fix', async () => {
    let printed = '';
    const code = await doctorCommand(
      [
        '--input',
        `s3://${allowed.name}/in/`,
        '--output',
        `s3://${denied.name}/out/`,
        '--log-level',
        'warn',
      ],
      env(),
      (text) => {
        printed += text;
      },
    );
    expect(code).toBe(ExitCode.AccessDenied);
    expect(printed).toMatch(/list input\s+s3:ListBucket\s+s3:\/\/\S+\/in\/\s+ok/);
    expect(printed).toMatch(/write outputs\s+s3:PutObject\s+\S+\s+FAIL/);
    expect(printed).toContain('What to fix:');
    expect(printed).toContain('2 checks failed (exit code 12)');
    expect(await contents(denied.name)).toEqual({ keys: ['in/a.txt'], uploads: [] });
  });

  it("flags the seed's policy for lacking s3:AbortMultipartUpload and lists the upload it could not abort", async () => {
    try {
      const report = await withRole(bucketReadWritePolicy(allowed.name), (roleEnv) =>
        runDoctor({ aws: { env: roleEnv }, output: { bucket: allowed.name, prefix: 'seed/' } }),
      );
      const abort = report.checks.find((c) => c.name === 'abort failed uploads');
      expect(abort?.verdict).toBe('fail');
      expect(abort?.code).toBe('ACCESS_DENIED');
      expect(abort?.fix).toContain('"Action": "s3:AbortMultipartUpload"');
      expect(report.exitCode).toBe(ExitCode.AccessDenied);
      const { uploads } = await contents(allowed.name);
      expect(report.leftovers).toEqual([
        expect.stringMatching(
          new RegExp(
            `^s3://${allowed.name}/seed/\\.s3worker-doctor-[0-9a-f]+ \\(multipart upload \\S+\\)$`,
          ),
        ),
      ]);
      expect(uploads).toHaveLength(1);
    } finally {
      // The admin aborts what the probe could not, so the bucket is clean again.
      const left = await admin.send(new ListMultipartUploadsCommand({ Bucket: allowed.name }));
      for (const u of left.Uploads ?? []) {
        await admin.send(
          new AbortMultipartUploadCommand({
            Bucket: allowed.name,
            Key: u.Key!,
            UploadId: u.UploadId!,
          }),
        );
      }
    }
  });

  it('proves GetObject on an empty input prefix by a HEAD that answers 404, not 403', async () => {
    const report = await runDoctor({
      aws: { env: env() },
      input: { bucket: allowed.name, prefix: 'empty/' },
    });
    const read = report.checks.find((c) => c.name === 'read an input object');
    expect(read?.verdict).toBe('pass');
    expect(read?.detail).toContain('no object to read');
    expect(report.exitCode).toBe(ExitCode.Success);
  });

  it('fails the read probe on an empty prefix when only ListBucket is allowed', async () => {
    const listOnly: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [`arn:aws:s3:::${allowed.name}`] },
      ],
    };
    const report = await withRole(listOnly, (roleEnv) =>
      runDoctor({ aws: { env: roleEnv }, input: { bucket: allowed.name, prefix: 'empty/' } }),
    );
    expect(report.checks.map((c) => [c.name, c.verdict, c.code])).toEqual([
      ['resolve credentials', 'pass', undefined],
      ['list input', 'pass', undefined],
      ['read an input object', 'fail', 'ACCESS_DENIED'],
    ]);
  });

  it('rejects a bad location before any request, with exit code 2', async () => {
    let printed = '';
    const requests = endpoint.log.length;
    const code = await doctorCommand(['--output', 's3://Not_A_Bucket/x'], env(), (text) => {
      printed += text;
    });
    expect(code).toBe(ExitCode.Config);
    expect(printed).toBe('');
    // Not even the credentials endpoint was asked.
    expect(endpoint.log).toHaveLength(requests);
  });

  it('reports missing credentials as a failed check with exit code 10', async () => {
    const report = await runDoctor({
      aws: { credentials: 'env', env: { AWS_ENDPOINT_URL_S3: s3.endpoint } },
      output: { bucket: allowed.name, prefix: 'out/' },
    });
    expect(report.checks).toHaveLength(1);
    expect(report.checks[0]?.code).toBe('NO_CREDENTIALS');
    expect(report.exitCode).toBe(ExitCode.NoCredentials);
  });
});
