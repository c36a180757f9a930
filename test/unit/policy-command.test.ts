import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { policyCommand } from '../../src/cli/commands/policy.js';
import { ExitCode } from '../../src/errors.js';
import type { PolicyCheckReport } from '../../src/policy/check-policy.js';
import { PolicyCheckExitCode } from '../../src/policy/policy-check-exit-code.js';
import type { PolicyDocument } from '../../src/policy/policy-document.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((c) => {
    out.push(String(c));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((c) => {
    err.push(String(c));
    return true;
  });
  return { out: () => out.join(''), err: () => err.join('') };
}

afterEach(() => vi.restoreAllMocks());

describe('s3worker policy', () => {
  it('prints the stream-transform policy for flags, with only the actions that config uses', async () => {
    const io = capture();
    const code = await policyCommand(
      [
        'stream-transform',
        '--input',
        's3://in-b/raw/',
        '--output',
        's3://out-b/gz/',
        '--sweep-age',
        '0',
      ],
      {},
      {},
    );
    vi.restoreAllMocks();
    expect(code).toBe(ExitCode.Success);
    const doc = JSON.parse(io.out()) as PolicyDocument;
    const actions = doc.Statement.flatMap((s) => [s.Action].flat());
    expect(actions).toContain('s3:ListBucket');
    expect(actions).toContain('s3:PutObject');
    // No sweep, no tags, no KMS: none of their actions.
    expect(actions).not.toContain('s3:ListBucketMultipartUploads');
    expect(actions).not.toContain('s3:PutObjectTagging');
    expect(actions.some((a) => a.startsWith('kms:'))).toBe(false);
    expect(doc.Statement[0]).toEqual({
      Sid: 'List1',
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: ['arn:aws:s3:::in-b'],
      Condition: { StringLike: { 's3:prefix': ['raw/*', 'raw/'] } },
    });
  });

  /** The stream-transform policy for SSE-KMS, config from S3WORKER_*; asserts it succeeded. */
  async function kmsPolicy(
    keyId: string | undefined,
    options: { denyInsecureTransport?: boolean } = {},
  ): Promise<PolicyDocument> {
    const io = capture();
    const code = await policyCommand(['stream-transform'], options, {
      S3WORKER_INPUT: 's3://in-b/raw/',
      S3WORKER_OUTPUT: 's3://out-b/gz/',
      S3WORKER_SSE: 'aws:kms',
      ...(keyId === undefined ? {} : { S3WORKER_SSE_KMS_KEY_ID: keyId }),
    });
    vi.restoreAllMocks();
    expect(code).toBe(ExitCode.Success);
    return JSON.parse(io.out()) as PolicyDocument;
  }

  it('reads the job config from S3WORKER_* and adds KMS on the key ARN for SSE-KMS', async () => {
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const doc = await kmsPolicy(key, { denyInsecureTransport: true });
    expect(doc.Statement.find((s) => s.Sid === 'Kms1')?.Resource).toEqual([key]);
    expect(doc.Statement.at(-1)?.Sid).toBe('DenyInsecureTransport');
  });

  it('narrows a KMS key named by alias with a kms:ResourceAliases condition', async () => {
    const doc = await kmsPolicy('alias/logs-key');
    expect(doc.Statement.find((s) => s.Sid === 'Kms1')).toEqual({
      Sid: 'Kms1',
      Effect: 'Allow',
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: ['arn:aws:kms:*:*:key/*'],
      Condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/logs-key'] } },
    });
  });

  it('asks for no KMS permission with SSE-KMS on the AWS managed key (no key id)', async () => {
    const doc = await kmsPolicy(undefined);
    expect(doc.Statement.flatMap((s) => [s.Action].flat()).some((a) => a.startsWith('kms:'))).toBe(
      false,
    );
    expect(JSON.stringify(doc)).not.toContain('"*"');
  });

  it('prints the trust policy with --trust, region from --region', async () => {
    const io = capture();
    const code = await policyCommand(
      ['--region', 'eu-west-1'],
      { trust: true, accountId: '123456789012' },
      {},
    );
    vi.restoreAllMocks();
    expect(code).toBe(ExitCode.Success);
    expect(JSON.parse(io.out()).Statement[0].Condition).toEqual({
      ArnLike: { 'aws:SourceArn': 'arn:aws:ecs:eu-west-1:123456789012:*' },
      StringEquals: { 'aws:SourceAccount': '123456789012' },
    });
  });

  it('lists the reasons on stderr with --explain, keeping stdout pure JSON', async () => {
    const io = capture();
    await policyCommand(
      ['stream-transform', '--input', 's3://in-b/raw/', '--output', 's3://out-b/gz/'],
      { explain: true },
      {},
    );
    vi.restoreAllMocks();
    expect(() => JSON.parse(io.out())).not.toThrow();
    expect(io.err()).toContain('s3:GetObject on s3://in-b/raw/: read input objects');
  });

  it('exits with ExitCode.Config and names the field on a bad config, printing no JSON', async () => {
    const io = capture();
    const code = await policyCommand(['stream-transform', '--input', 'http://nope'], {}, {});
    vi.restoreAllMocks();
    expect(code).toBe(ExitCode.Config);
    expect(io.out()).toBe('');
    expect(io.err()).toMatch(/input/);
    expect(io.err()).toMatch(/output/);
  });
});

describe('s3worker policy --check', () => {
  const dir = mkdtempSync(join(tmpdir(), 's3worker-policy-check-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const job = ['stream-transform', '--input', 's3://in-b/raw/', '--output', 's3://out-b/gz/'];

  /** Runs the command, returning its exit code and output. */
  async function run(
    args: string[],
    options: Parameters<typeof policyCommand>[1],
    io: Parameters<typeof policyCommand>[3] = {},
  ) {
    const captured = capture();
    const code = await policyCommand(args, options, {}, { cwd: dir, ...io });
    vi.restoreAllMocks();
    return { code, out: captured.out(), err: captured.err() };
  }

  function file(name: string, content: unknown): string {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
    return name;
  }

  it('checks the policy it generates as an exact fit, and a broad one as broader (exit 20)', async () => {
    const generated = await run(job, {});
    const fits = await run(job, { check: [file('gen.json', generated.out)] });
    expect(fits.code).toBe(PolicyCheckExitCode.Fits);
    expect(fits.out).toMatch(/verdict: fits.*\(exit 0\)\n$/);

    const broad = await run(job, {
      check: [
        file('broad.json', {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }],
        }),
      ],
    });
    expect(broad.code).toBe(PolicyCheckExitCode.Broader);
    expect(broad.out).toContain('all-actions');
  });

  it('reads aws iam get-role-policy output from stdin and reports a missing permission (exit 22)', async () => {
    const generated = JSON.parse((await run(job, {})).out) as PolicyDocument;
    generated.Statement = generated.Statement.filter((s) => s.Sid !== 'List1');
    const stdin = JSON.stringify({ RoleName: 'task', PolicyName: 'p', PolicyDocument: generated });
    const r = await run(job, { check: ['-'] }, { readStdin: async () => stdin });
    expect(r.code).toBe(PolicyCheckExitCode.Missing);
    expect(r.out).toMatch(/MISSING +s3:ListBucket +arn:aws:s3:::in-b s3:prefix raw\/\*/);
  });

  it('prints the report as JSON with --json', async () => {
    const generated = await run(job, {});
    const r = await run(job, { check: [file('gen2.json', generated.out)], json: true });
    const report = JSON.parse(r.out) as PolicyCheckReport;
    expect(report.verdict).toBe('fits');
    expect(report.exitCode).toBe(0);
    expect(report.needs.map((n) => n.verdict)).toEqual(Array(report.needs.length).fill('granted'));
  });

  it('takes the union of several --config files (one role, several tasks)', async () => {
    const a = file('a.json', {
      job: 'stream-transform',
      input: 's3://in-b/raw/',
      output: 's3://out-b/gz/',
    });
    const b = file('b.json', {
      job: 'stream-transform',
      input: 's3://logs-b/app/',
      output: 's3://out-b/logs/',
      dryRun: true,
    });
    const union = await run(['--config', a, `--config=${b}`], { explain: true });
    expect(union.code).toBe(ExitCode.Success);
    const doc = JSON.parse(union.out) as PolicyDocument;
    const resources = doc.Statement.flatMap((s) => [s.Resource].flat());
    expect(resources).toContain('arn:aws:s3:::in-b/raw/*');
    expect(resources).toContain('arn:aws:s3:::logs-b/app/*');
    expect(union.err).toContain('s3:GetObject on s3://logs-b/app/: read input objects [b.json]');

    // The policy of the first job alone misses the second job's input.
    const first = file('first.json', (await run(['--config', a], {})).out);
    const r = await run(['--config', a, '--config', b], { check: [first] });
    expect(r.code).toBe(PolicyCheckExitCode.Missing);
    expect(r.out).toMatch(
      /MISSING +s3:GetObject +arn:aws:s3:::logs-b\/app\/\* +\[b\.json\] read input objects/,
    );
    const both = file('both.json', union.out);
    expect((await run(['--config', a, '--config', b], { check: [both] })).code).toBe(
      PolicyCheckExitCode.Fits,
    );
  });

  it('adds the network conditions and explains them on stderr', async () => {
    const r = await run(job, { sourceVpce: ['vpce-0a1b2c3d'], explain: true });
    expect(r.code).toBe(ExitCode.Success);
    const doc = JSON.parse(r.out) as PolicyDocument;
    for (const s of doc.Statement) {
      expect(s.Condition?.StringEquals, s.Sid).toEqual({ 'aws:SourceVpce': ['vpce-0a1b2c3d'] });
    }
    expect(r.err).toContain(
      'aws:SourceVpce vpce-0a1b2c3d: S3 requests are allowed only through this VPC endpoint',
    );
    const ip = await run(job, { sourceIp: ['203.0.113.0/24'], explain: true });
    expect(ip.err).toContain('Warning: it does not apply to traffic through a VPC endpoint');
  });

  it('refuses usage errors with ExitCode.Config: unreadable file, not a policy, options that do not combine', async () => {
    const cases: Array<[Parameters<typeof policyCommand>[1], RegExp]> = [
      [{ check: ['missing.json'] }, /cannot read missing\.json/],
      [
        {
          check: [
            file('trust.json', {
              Version: '2012-10-17',
              Statement: [
                {
                  Effect: 'Allow',
                  Principal: { Service: 'ecs-tasks.amazonaws.com' },
                  Action: 'sts:AssumeRole',
                },
              ],
            }),
          ],
        },
        /resource policy/,
      ],
      [{ json: true }, /--json: applies to --check only/],
      [{ trust: true, check: ['x.json'] }, /--check: applies to the job's policy, not to --trust/],
      [{ sourceVpce: ['vpce-0a1b2c3d'], sourceIp: ['10.0.0.0/8'] }, /cannot be combined/],
      [{ check: ['-', '-'] }, /stdin \(-\) can be read once only/],
    ];
    for (const [options, message] of cases) {
      const r = await run(job, options);
      expect(r.code, String(message)).toBe(ExitCode.Config);
      expect(r.out).toBe('');
      expect(r.err).toMatch(message);
    }
  });
});
