/**
 * `s3worker policy --check` tells the truth, on MinIO: for each policy below the check's verdict
 * is taken first, then a MinIO user holding exactly that policy runs the job through the CLI.
 * A policy reported "missing X" must make the run fail on X; one reported "fits" or "broader"
 * must let it succeed. And MinIO evaluates the aws:SourceIp condition `--source-ip` generates:
 * 127.0.0.1/32 lets a loopback client in, 10.0.0.0/8 keeps it out.
 *
 * The job is stream-transform without a start sweep (every permission it then needs fails the
 * run when missing, see policy-proof.test.ts for the softer ones).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import type { PolicyCheckReport } from '../../src/policy/check-policy.js';
import { PolicyCheckExitCode } from '../../src/policy/policy-check-exit-code.js';
import type { PolicyDocument, PolicyStatement } from '../../src/policy/policy-document.js';
import { createUserWithPolicy, type Keys } from '../support/minio-admin.js';
import { runCli } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';

type Doc = { Version: '2012-10-17'; Statement: Array<PolicyStatement | Record<string, unknown>> };

interface Row {
  name: string;
  /** The policy under review, from the generated one and the bucket names. */
  policy: (generated: PolicyDocument, b: { in: string; out: string }) => Doc;
  verdict: 'fits' | 'broader' | 'missing';
  /** For "missing": the action the check names, which the run must fail on. */
  missing?: string;
  /** For "missing": the run's exit code. */
  exitCode?: number;
}

const edit = (
  generated: PolicyDocument,
  change: (s: PolicyStatement) => PolicyStatement | Record<string, unknown>,
): Doc => ({ ...generated, Statement: generated.Statement.map(change) });

const ROWS: Row[] = [
  { name: 'the generated policy', policy: (g) => g, verdict: 'fits' },
  {
    name: 's3:* on both buckets',
    policy: (_g, b) => ({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 's3:*',
          Resource: [b.in, `${b.in}/*`, b.out, `${b.out}/*`].map((r) => `arn:aws:s3:::${r}`),
        },
      ],
    }),
    verdict: 'broader',
  },
  {
    name: 'raw* instead of raw/*',
    policy: (g, b) =>
      edit(g, (s) =>
        s.Sid === 'Objects1' ? { ...s, Resource: [`arn:aws:s3:::${b.in}/raw*`] } : s,
      ),
    verdict: 'broader',
  },
  {
    name: 'no s3:PutObject',
    policy: (g) =>
      edit(g, (s) => ({ ...s, Action: [s.Action].flat().filter((a) => a !== 's3:PutObject') })),
    verdict: 'missing',
    missing: 's3:PutObject',
    exitCode: ExitCode.ObjectsFailed,
  },
  {
    name: 'a Deny of reads under raw/sub/',
    policy: (g, b) => ({
      ...g,
      Statement: [
        ...g.Statement,
        {
          Sid: 'NoSub',
          Effect: 'Deny',
          Action: 's3:GetObject',
          Resource: `arn:aws:s3:::${b.in}/raw/sub/*`,
        },
      ],
    }),
    verdict: 'missing',
    missing: 's3:GetObject',
    exitCode: ExitCode.ObjectsFailed,
  },
  {
    name: 'a listing condition narrower than the input prefix',
    policy: (g) =>
      edit(g, (s) =>
        s.Sid === 'List1' ? { ...s, Condition: { StringLike: { 's3:prefix': ['raw/sub/*'] } } } : s,
      ),
    verdict: 'missing',
    missing: 's3:ListBucket',
    exitCode: ExitCode.AccessDenied,
  },
];

describe('policy --check verdicts against real runs', () => {
  const servers = inject('servers');
  let admin: S3Client;
  const b = { in: '', out: '' };
  const removers: Array<() => Promise<void>> = [];
  let tmp: string;
  let jobArgs: string[];

  /** Runs the job through the CLI with these keys in the environment. */
  async function runAs(keys: Keys) {
    const result = await runCli(['run', 'stream-transform', ...jobArgs], {
      env: {
        AWS_ACCESS_KEY_ID: keys.accessKeyId,
        AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
        AWS_ENDPOINT_URL_S3: servers.s3.endpoint,
        AWS_REGION: servers.s3.region,
        AWS_EC2_METADATA_DISABLED: 'true',
        S3WORKER_TMPDIR: tmp,
        S3WORKER_LOG_FORMAT: 'json',
      },
    });
    const output = `${result.stdout}\n${result.stderr}`;
    expect(output).not.toContain(keys.secretAccessKey);
    return { ...result, output };
  }

  /** Removes the outputs, so every run writes them again. */
  async function reset(): Promise<void> {
    const listed = await admin.send(new ListObjectsV2Command({ Bucket: b.out }));
    const objects = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (objects.length > 0)
      await admin.send(new DeleteObjectsCommand({ Bucket: b.out, Delete: { Objects: objects } }));
  }

  /** `s3worker policy <job> [extra] --check <doc> --json`: the report and the exit code. */
  async function check(doc: unknown, extra: string[] = []) {
    const file = join(tmp, `policy-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(doc));
    const run = await runCli([
      'policy',
      'stream-transform',
      ...jobArgs,
      ...extra,
      '--check',
      file,
      '--json',
    ]);
    expect(run.stderr).toBe('');
    return { code: run.code, report: JSON.parse(run.stdout) as PolicyCheckReport };
  }

  async function generate(extra: string[] = []): Promise<PolicyDocument> {
    const run = await runCli(['policy', 'stream-transform', ...jobArgs, ...extra]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout) as PolicyDocument;
  }

  beforeAll(async () => {
    admin = adminClient(servers.s3);
    tmp = mkdtempSync(join(tmpdir(), 's3worker-check-'));
    for (const role of ['in', 'out'] as const) {
      const bucket = await createTestBucket(admin, `check-${role}`);
      b[role] = bucket.name;
      removers.push(bucket.remove);
    }
    jobArgs = [
      '--input',
      `s3://${b.in}/raw/`,
      '--output',
      `s3://${b.out}/gz/`,
      '--transform',
      'gzip',
      '--sweep-age',
      '0',
    ];
    for (const [Key, Body] of [
      ['raw/a.txt', 'alpha\n'.repeat(50)],
      ['raw/sub/b.txt', 'beta\n'.repeat(50)],
      ['other/c.txt', 'not for this job'],
    ] as const) {
      await admin.send(new PutObjectCommand({ Bucket: b.in, Key, Body }));
    }
  });

  afterAll(async () => {
    for (const remove of removers.reverse()) await remove();
    admin?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  it.each(ROWS)(
    '$name: the check says $verdict, and a run with that policy agrees',
    async (row) => {
      const doc = row.policy(await generate(), b);
      const { code, report } = await check(doc);
      expect(report.verdict).toBe(row.verdict);
      expect(code).toBe(
        {
          fits: PolicyCheckExitCode.Fits,
          broader: PolicyCheckExitCode.Broader,
          missing: PolicyCheckExitCode.Missing,
        }[row.verdict],
      );
      const missing = report.needs.filter((n) => n.verdict === 'missing').map((n) => n.action);
      expect(missing).toEqual(row.missing ? [row.missing] : []);

      const user = await createUserWithPolicy(servers.s3, doc as never, 'check');
      try {
        await reset();
        const run = await runAs(user);
        const label = `${row.name}:\n${run.output.slice(-3000)}`;
        if (row.verdict === 'missing') {
          expect(run.code, label).toBe(row.exitCode);
          expect(run.output, label).toContain(row.missing!);
        } else {
          expect(run.code, label).toBe(ExitCode.Success);
        }
      } finally {
        await user.remove();
      }
    },
  );

  it('--source-ip: MinIO accepts the aws:SourceIp policy; 127.0.0.1/32 lets a loopback client in, 10.0.0.0/8 does not', async () => {
    expect(new URL(servers.s3.endpoint).hostname).toBe('127.0.0.1');
    const loopback = await generate(['--source-ip', '127.0.0.1/32']);
    expect(JSON.stringify(loopback)).toContain('"IpAddress":{"aws:SourceIp":["127.0.0.1/32"]}');
    const tenNet = await generate(['--source-ip', '10.0.0.0/8']);

    // The check agrees: seen from 127.0.0.1, the first fits and the second misses everything.
    expect((await check(loopback, ['--source-ip', '127.0.0.1/32'])).report.verdict).toBe('fits');
    expect((await check(tenNet, ['--source-ip', '127.0.0.1/32'])).report.verdict).toBe('missing');

    for (const [doc, expected] of [
      [loopback, ExitCode.Success],
      [tenNet, ExitCode.AccessDenied],
    ] as const) {
      const user = await createUserWithPolicy(servers.s3, doc as never, 'srcip');
      try {
        await reset();
        const run = await runAs(user);
        expect(run.code, run.output.slice(-3000)).toBe(expected);
      } finally {
        await user.remove();
      }
    }
  });
});
