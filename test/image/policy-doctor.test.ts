import { describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { incompleteUploads, listKeys, putObjects } from '../fixtures/stream-transform/harness.js';
import { runCli } from '../support/run-cli.js';
import { useTestBucket } from '../support/test-bucket.js';
import { runImage } from './support/container-engine.js';
import { keysFromEnvironment } from './support/worker-run.js';

const { s3 } = inject('servers');

interface PolicyStatement {
  Effect: string;
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, string[]>>;
}

describe('policy and doctor through `docker run`', () => {
  const bucket = useTestBucket(s3, 'img-doctor');

  it.each([
    { name: 'gzip', flags: ['--transform', 'gzip'] },
    {
      name: 'SSE-KMS and tags',
      flags: ['--sse', 'aws:kms', '--sse-kms-key-id', 'alias/logs', '--tags', 'team=data'],
    },
  ])('policy ($name) prints the same valid policy JSON as the local CLI', async ({ flags }) => {
    const args = [
      'policy',
      'stream-transform',
      '--input',
      's3://img-policy-in/raw/2026/',
      '--output',
      's3://img-policy-out/gz/',
      ...flags,
    ];
    const image = await runImage([], args);
    expect(image.code, image.stderr).toBe(0);
    expect(image.stderr.trim()).toBe('');
    const local = await runCli(args, { env: {} });
    expect(local.code, local.stderr).toBe(0);
    expect(image.stdout).toBe(local.stdout);
    const policy = JSON.parse(image.stdout) as { Version: string; Statement: PolicyStatement[] };
    expect(policy.Version).toBe('2012-10-17');
    expect(policy.Statement.every((s) => s.Effect === 'Allow')).toBe(true);
    // Listing the input is confined to its prefix, reading to its objects.
    expect(policy.Statement).toContainEqual(
      expect.objectContaining({
        Action: ['s3:ListBucket'],
        Resource: ['arn:aws:s3:::img-policy-in'],
        Condition: { StringLike: { 's3:prefix': ['raw/2026/*', 'raw/2026/'] } },
      }),
    );
    expect(policy.Statement).toContainEqual(
      expect.objectContaining({
        Action: ['s3:GetObject'],
        Resource: ['arn:aws:s3:::img-policy-in/raw/2026/*'],
      }),
    );
    const all = policy.Statement.flatMap((s) => s.Action);
    expect(all).toContain('s3:PutObject');
    expect(all.includes('s3:PutObjectTagging')).toBe(flags.includes('--tags'));
    expect(all.some((a) => a.startsWith('kms:'))).toBe(flags.includes('aws:kms'));
  });

  it('doctor with -e keys against MinIO: every check passes, exit 0, names the credential source, leaves nothing', async () => {
    await putObjects(bucket.admin, bucket.name, [{ key: 'raw/a.log', body: 'a line\n' }]);
    const keys = keysFromEnvironment(s3);
    const args = [
      'doctor',
      'stream-transform',
      '--endpoint',
      s3.endpoint,
      '--input',
      `s3://${bucket.name}/raw/`,
      '--output',
      `s3://${bucket.name}/gz/`,
      '--transform',
      'gzip',
    ];
    const text = await runImage(keys.flags, args, { env: keys.env });
    expect(text.code, text.stdout + text.stderr).toBe(ExitCode.Success);
    expect(text.stdout).toMatch(/^credentials\s+env, expires never$/m);
    expect(text.stdout).toMatch(new RegExp(`^endpoint\\s+${s3.endpoint}$`, 'm'));
    expect(text.stdout).not.toContain(s3.secretAccessKey);

    const json = await runImage(keys.flags, [...args, '--json'], { env: keys.env });
    expect(json.code, json.stdout + json.stderr).toBe(ExitCode.Success);
    const report = JSON.parse(json.stdout) as {
      ok: boolean;
      exitCode: number;
      credentials: { source: string };
      checks: Array<{ name: string; permission: string; verdict: string }>;
    };
    expect(report).toMatchObject({ ok: true, exitCode: 0, credentials: { source: 'env' } });
    expect(report.checks.filter((c) => c.verdict !== 'pass')).toEqual([]);
    expect(report.checks.map((c) => c.permission)).toEqual(
      expect.arrayContaining(['s3:ListBucket', 's3:GetObject', 's3:PutObject']),
    );
    // The probes leave nothing behind: no object, no upload.
    expect(await listKeys(bucket.admin, bucket.name)).toEqual(['raw/a.log']);
    expect(await incompleteUploads(bucket.admin, bucket.name)).toBe(0);
  });
});
