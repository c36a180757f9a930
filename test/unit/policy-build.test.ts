import { describe, expect, it } from 'vitest';
import type { Permission } from '../../src/jobs/permissions.js';
import { buildPolicy, escapeWildcards } from '../../src/policy/build-policy.js';
import { policyProblems } from '../../src/policy/policy-problems.js';
import { s3ActionScope } from '../../src/policy/s3-action-scope.js';

const transform: Permission[] = [
  { action: 's3:ListBucket', bucket: 'in-bucket', prefix: 'raw/', reason: 'list input' },
  { action: 's3:GetObject', bucket: 'in-bucket', prefix: 'raw/', reason: 'read input' },
  { action: 's3:PutObject', bucket: 'out-bucket', prefix: 'gz/', reason: 'write output' },
  { action: 's3:AbortMultipartUpload', bucket: 'out-bucket', prefix: 'gz/', reason: 'abort' },
  { action: 's3:GetObject', bucket: 'out-bucket', prefix: 'gz/', reason: 'resume check' },
  { action: 's3:ListBucketMultipartUploads', bucket: 'out-bucket', prefix: 'gz/', reason: 'sweep' },
];

describe('buildPolicy', () => {
  it('grants object actions only on bucket/prefix* and groups them by resource with stable Sids', () => {
    const doc = buildPolicy(transform);
    expect(doc).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'List1',
          Effect: 'Allow',
          Action: ['s3:ListBucket'],
          Resource: ['arn:aws:s3:::in-bucket'],
          Condition: { StringLike: { 's3:prefix': ['raw/*', 'raw/'] } },
        },
        {
          Sid: 'Objects1',
          Effect: 'Allow',
          Action: ['s3:GetObject'],
          Resource: ['arn:aws:s3:::in-bucket/raw/*'],
        },
        {
          Sid: 'Objects2',
          Effect: 'Allow',
          Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
          Resource: ['arn:aws:s3:::out-bucket/gz/*'],
        },
        {
          Sid: 'Bucket1',
          Effect: 'Allow',
          Action: ['s3:ListBucketMultipartUploads'],
          Resource: ['arn:aws:s3:::out-bucket'],
        },
      ],
    });
    expect(policyProblems(doc, 'identity')).toEqual([]);
  });

  it('gives the same document for the same permissions (Sids, order, actions sorted)', () => {
    expect(JSON.stringify(buildPolicy(transform))).toBe(
      JSON.stringify(buildPolicy(structuredClone(transform))),
    );
  });

  it('grants no multipart action unless one is declared', () => {
    const doc = buildPolicy(transform.filter((p) => !/Multipart/.test(p.action)));
    const actions = doc.Statement.flatMap((s) => [s.Action].flat());
    expect(actions.some((a) => /Multipart/.test(a))).toBe(false);
  });

  it('drops the s3:prefix condition when one permission lists the whole bucket', () => {
    const doc = buildPolicy([
      { action: 's3:ListBucket', bucket: 'b', prefix: 'a/', reason: 'x' },
      { action: 's3:ListBucket', bucket: 'b', reason: 'y' },
    ]);
    expect(doc.Statement).toEqual([
      { Sid: 'List1', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: ['arn:aws:s3:::b'] },
    ]);
  });

  it('merges several listed prefixes of one bucket into one condition', () => {
    const doc = buildPolicy([
      { action: 's3:ListBucket', bucket: 'b', prefix: 'a/', reason: 'x' },
      { action: 's3:ListBucket', bucket: 'b', prefix: 'c/d', reason: 'y' },
      { action: 's3:ListBucket', bucket: 'b', prefix: 'a/', reason: 'again' },
    ]);
    expect(doc.Statement[0]?.Condition).toEqual({
      StringLike: { 's3:prefix': ['a/*', 'a/', 'c/d*', 'c/d'] },
    });
  });

  it('uses bucket/* for an empty prefix', () => {
    const doc = buildPolicy([{ action: 's3:GetObject', bucket: 'b', prefix: '', reason: 'x' }]);
    expect(doc.Statement[0]?.Resource).toEqual(['arn:aws:s3:::b/*']);
  });

  it('puts KMS actions on the key ARN only', () => {
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const doc = buildPolicy([
      ...transform,
      { action: 'kms:GenerateDataKey', resource: key, reason: 'encrypt output' },
      { action: 'kms:Decrypt', resource: key, reason: 'multipart with SSE-KMS' },
    ]);
    const kms = doc.Statement.filter((s) => [s.Action].flat().some((a) => a.startsWith('kms:')));
    expect(kms).toEqual([
      {
        Sid: 'Kms1',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: [key],
      },
    ]);
    expect(policyProblems(doc, 'identity')).toEqual([]);
  });

  it('adds a Deny on the buckets over plain HTTP with --deny-insecure-transport', () => {
    const doc = buildPolicy(transform, { denyInsecureTransport: true });
    expect(doc.Statement.at(-1)).toEqual({
      Sid: 'DenyInsecureTransport',
      Effect: 'Deny',
      Action: ['s3:*'],
      Resource: [
        'arn:aws:s3:::in-bucket',
        'arn:aws:s3:::in-bucket/*',
        'arn:aws:s3:::out-bucket',
        'arn:aws:s3:::out-bucket/*',
      ],
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    expect(policyProblems(doc, 'identity')).toEqual([]);
  });

  it('escapes IAM wildcards and policy variables in a prefix so they cannot widen the grant', () => {
    // IAM's own policy variables for literal characters, not JavaScript template placeholders.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: IAM syntax
    expect(escapeWildcards('a*b?c$d')).toBe('a${*}b${?}c${$}d');
    const doc = buildPolicy([{ action: 's3:GetObject', bucket: 'b', prefix: 'x*/', reason: 'r' }]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: IAM syntax
    expect(doc.Statement[0]?.Resource).toEqual(['arn:aws:s3:::b/x${*}/*']);
  });

  it('refuses a permission without the bucket or resource its action needs', () => {
    expect(() => buildPolicy([{ action: 's3:GetObject', reason: 'no bucket' }])).toThrow(
      /s3:GetObject \(no bucket\) names no bucket/,
    );
    expect(() => buildPolicy([{ action: 'kms:Decrypt', reason: 'no key' }])).toThrow(
      /names no resource/,
    );
    expect(() => buildPolicy([{ action: 's3:GetObject', bucket: 'b/k', reason: 'bad' }])).toThrow(
      /invalid bucket/,
    );
  });
});

describe('s3ActionScope', () => {
  it.each([
    ['s3:GetObject', 'object'],
    ['s3:PutObjectTagging', 'object'],
    ['s3:AbortMultipartUpload', 'object'],
    ['s3:ListMultipartUploadParts', 'object'],
    ['s3:ListBucket', 'bucket'],
    ['s3:ListBucketMultipartUploads', 'bucket'],
    ['s3:GetBucketLocation', 'bucket'],
    ['s3:GetLifecycleConfiguration', 'bucket'],
    ['s3:ListAllMyBuckets', 'account'],
  ])('%s is a %s action', (action, scope) => {
    expect(s3ActionScope(action)).toBe(scope);
  });
});

describe('policyProblems', () => {
  it('names each problem of an invalid document', () => {
    const problems = policyProblems(
      {
        Version: '2012-10-17',
        Statement: [
          { Sid: 'a-b', Effect: 'Allow', Action: 'GetObject', Resource: 'bucket/key' },
          { Sid: 'a-b', Effect: 'Allow', Action: 's3:GetObject' },
        ],
      },
      'identity',
    );
    expect(problems).toEqual([
      'Statement[0] (a-b): Sid must be letters and digits only',
      'Statement[0] (a-b): bad action GetObject',
      'Statement[0] (a-b): bad ARN bucket/key',
      'Statement[1] (a-b): Sid must be letters and digits only',
      'Statement[1] (a-b): Sid is not unique',
      'Statement[1] (a-b): no Resource',
    ]);
  });
});
