/**
 * `s3worker doctor <job>` against a MinIO user holding exactly `s3worker policy <job> ...`: every
 * probe passes and nothing is left behind; with each action of the policy taken out in turn,
 * doctor fails and names that action. For the built-in stream-transform job and for a job of
 * one's own loaded with --handler (examples/command-upload).
 */
import {
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DoctorReport } from '../../src/doctor/run-doctor.js';
import { ExitCode } from '../../src/errors.js';
import type { PolicyDocument } from '../../src/policy/policy-document.js';
import { createUserWithPolicy, type Keys } from '../support/minio-admin.js';
import { ROOT, runCli } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';

const HANDLER = `${ROOT}/examples/command-upload/command-upload-job.mjs`;

interface Case {
  job: string;
  args: (bucket: string) => string[];
  arrange: (admin: S3Client, bucket: string) => Promise<void>;
}

const CASES: Case[] = [
  {
    job: 'stream-transform',
    args: (b) => [
      '--input',
      `s3://${b}/raw/`,
      '--output',
      `s3://${b}/gz/`,
      '--transform',
      'gzip',
      '--tags',
      'team=data',
    ],
    arrange: async (admin, b) => {
      await admin.send(new PutObjectCommand({ Bucket: b, Key: 'raw/a.txt', Body: 'alpha\n' }));
    },
  },
  {
    job: 'command-upload',
    args: (b) => [
      '--handler',
      HANDLER,
      '--output',
      `s3://${b}/dumps/today.bin`,
      '--command',
      'true',
    ],
    arrange: async () => {},
  },
];

/** The policy with one action taken out of one statement (the statement goes when empty). */
function without(policy: PolicyDocument, sid: string, action: string): PolicyDocument {
  const Statement = policy.Statement.flatMap((s) => {
    if (s.Sid !== sid) return [s];
    const Action = [s.Action].flat().filter((a) => a !== action);
    return Action.length === 0 ? [] : [{ ...s, Action }];
  });
  return { ...policy, Statement };
}

describe.each(CASES)('doctor $job with exactly its generated policy', (c) => {
  const servers = inject('servers');
  let admin: S3Client;
  let bucket: { name: string; remove: () => Promise<void> };
  let policy: PolicyDocument;

  async function doctorAs(keys: Keys): Promise<{ code: number | null; report: DoctorReport }> {
    const result = await runCli(['doctor', c.job, ...c.args(bucket.name), '--json'], {
      env: {
        AWS_ACCESS_KEY_ID: keys.accessKeyId,
        AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
        AWS_REGION: servers.s3.region,
        S3WORKER_ENDPOINT: servers.s3.endpoint,
        S3WORKER_LOG_LEVEL: 'warn',
      },
    });
    return { code: result.code, report: JSON.parse(result.stdout) as DoctorReport };
  }

  /** Every key and incomplete upload in the bucket, seen with the root keys. */
  async function contents() {
    const objects = await admin.send(new ListObjectsV2Command({ Bucket: bucket.name }));
    const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket.name }));
    return {
      keys: (objects.Contents ?? []).map((o) => o.Key).sort(),
      uploads: (uploads.Uploads ?? []).map((u) => ({ Key: u.Key!, UploadId: u.UploadId! })),
    };
  }

  beforeAll(async () => {
    admin = adminClient(servers.s3);
    bucket = await createTestBucket(admin, 'doctor-proof');
    await c.arrange(admin, bucket.name);
    const generated = await runCli(['policy', c.job, ...c.args(bucket.name)]);
    expect(generated.code, generated.stderr).toBe(0);
    policy = JSON.parse(generated.stdout) as PolicyDocument;
  });

  afterAll(async () => {
    await bucket?.remove();
    admin?.destroy();
  });

  it('passes every probe, exits 0 and leaves no object and no multipart upload', async () => {
    const before = await contents();
    const user = await createUserWithPolicy(servers.s3, policy as never, 'doctor');
    try {
      const { code, report } = await doctorAs(user);
      const failed = report.checks.filter((ch) => ch.verdict === 'fail');
      expect(failed, JSON.stringify(failed)).toEqual([]);
      expect(code).toBe(ExitCode.Success);
      // Every S3 action of the policy was probed, none skipped.
      const granted = policy.Statement.flatMap((s) => [s.Action].flat());
      const probed = report.checks.filter((ch) => ch.verdict === 'pass').map((ch) => ch.permission);
      for (const action of granted) expect(probed, action).toContain(action);
      expect(report.leftovers).toEqual([]);
      expect(await contents()).toEqual(before);
    } finally {
      await user.remove();
    }
  });

  it('names the action when the policy lacks it, for each action in turn', async () => {
    const rows = policy.Statement.flatMap((s) => [s.Action].flat().map((a) => [s.Sid!, a]));
    expect(rows.length).toBeGreaterThan(1);
    for (const [sid, action] of rows) {
      const user = await createUserWithPolicy(
        servers.s3,
        without(policy, sid!, action!) as never,
        'doctor',
      );
      try {
        const { code, report } = await doctorAs(user);
        const failed = report.checks.filter((ch) => ch.verdict === 'fail');
        expect(
          failed.map((ch) => ch.permission),
          `${sid} ${action}: ${JSON.stringify(report.checks)}`,
        ).toContain(action);
        expect(code, `${sid} ${action}`).toBe(ExitCode.AccessDenied);
      } finally {
        await user.remove();
        // Without the abort, the write probe's upload stays: the admin removes it.
        for (const u of (await contents()).uploads) {
          const { AbortMultipartUploadCommand } = await import('@aws-sdk/client-s3');
          await admin.send(new AbortMultipartUploadCommand({ Bucket: bucket.name, ...u }));
        }
      }
    }
  });
});
