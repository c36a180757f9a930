import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { doctorCommand } from '../../src/cli/commands/doctor.js';
import type { DoctorReport } from '../../src/doctor/run-doctor.js';
import { ExitCode } from '../../src/errors.js';
import type { PolicyDocument } from '../../src/policy/policy-document.js';
import {
  createTaskRoleMinter,
  type EcsCredentialsEndpoint,
  startEcsCredentialsEndpoint,
} from '../support/ecs-credentials-endpoint.js';
import { runCli } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';

/**
 * deploy/ship-logs: the committed config, with its example bucket swapped for a test bucket,
 * gives a policy (`s3worker policy ship-logs --config`) with which `s3worker doctor ship-logs`
 * passes every probe through task-role credentials, and writes nothing that stays.
 */
describe('deploy/ship-logs with its generated policy', () => {
  const { s3 } = inject('servers');
  const admin = adminClient(s3);
  let bucket: { name: string; remove: () => Promise<void> };
  let role: Awaited<ReturnType<typeof createTaskRoleMinter>>;
  let endpoint: EcsCredentialsEndpoint;
  let tmp: string;
  let configFile: string;
  const token = `token-${randomBytes(12).toString('hex')}`;

  beforeAll(async () => {
    bucket = await createTestBucket(admin, 'ship-logs-deploy');
    tmp = mkdtempSync(join(tmpdir(), 's3worker-ship-logs-deploy-'));
    const committed = readFileSync(
      new URL('../../deploy/ship-logs/config.json', import.meta.url),
      'utf8',
    );
    configFile = join(tmp, 'config.json');
    writeFileSync(configFile, committed.replaceAll('example-log-bucket', bucket.name));
    const generated = await runCli(['policy', 'ship-logs', '--config', configFile]);
    expect(generated.code, generated.stderr).toBe(0);
    const policy = JSON.parse(generated.stdout) as PolicyDocument;
    role = await createTaskRoleMinter(s3, {
      ...policy,
      Statement: policy.Statement.map((s) => ({ ...s })),
    });
    endpoint = await startEcsCredentialsEndpoint({ token, mint: role.mint });
  });

  afterAll(async () => {
    await endpoint?.close();
    await bucket?.remove();
    await role?.remove();
    admin.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('passes doctor with exactly that policy and leaves nothing behind', async () => {
    let printed = '';
    const code = await doctorCommand(
      ['ship-logs', '--config', configFile, '--json', '--log-level', 'warn'],
      {
        AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.url,
        AWS_CONTAINER_AUTHORIZATION_TOKEN: token,
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_REGION: s3.region,
      },
      (text) => {
        printed += text;
      },
    );
    const report = JSON.parse(printed) as DoctorReport;
    expect(code, printed).toBe(ExitCode.Success);
    expect(report.ok).toBe(true);
    const permissions = report.checks.map((c) => c.permission);
    for (const action of [
      's3:PutObject',
      's3:GetObject',
      's3:AbortMultipartUpload',
      's3:ListBucketMultipartUploads',
    ]) {
      expect(permissions).toContain(action);
    }
    expect(report.checks.every((c) => c.verdict === 'pass')).toBe(true);
    const objects = await admin.send(new ListObjectsV2Command({ Bucket: bucket.name }));
    const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket.name }));
    expect(objects.Contents ?? []).toEqual([]);
    expect(uploads.Uploads ?? []).toEqual([]);
  });
});
