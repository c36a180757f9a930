import { afterEach, describe, expect, it, vi } from 'vitest';
import { policyCommand } from '../../src/cli/commands/policy.js';
import { ExitCode } from '../../src/errors.js';
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
