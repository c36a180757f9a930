import { describe, expect, it } from 'vitest';
import type { Permission } from '../../src/jobs/permissions.js';
import { buildPolicy } from '../../src/policy/build-policy.js';
import {
  checkPolicy,
  type PolicyCheckOptions,
  type PolicyCheckReport,
} from '../../src/policy/check-policy.js';
import { formatPolicyCheck } from '../../src/policy/format-policy-check.js';
import { PolicyCheckExitCode } from '../../src/policy/policy-check-exit-code.js';
import type { PolicyStatement } from '../../src/policy/policy-document.js';
import { readPolicyInput } from '../../src/policy/read-policy-input.js';

/** What stream-transform declares for s3://in-bucket/raw/ → s3://out-bucket/gz/ with a sweep. */
const transform: Permission[] = [
  { action: 's3:ListBucket', bucket: 'in-bucket', prefix: 'raw/', reason: 'list input' },
  { action: 's3:GetObject', bucket: 'in-bucket', prefix: 'raw/', reason: 'read input' },
  { action: 's3:GetObject', bucket: 'out-bucket', prefix: 'gz/', reason: 'resume check' },
  { action: 's3:ListBucket', bucket: 'out-bucket', prefix: 'gz/', reason: 'resume list' },
  { action: 's3:PutObject', bucket: 'out-bucket', prefix: 'gz/', reason: 'write output' },
  { action: 's3:AbortMultipartUpload', bucket: 'out-bucket', prefix: 'gz/', reason: 'abort' },
  { action: 's3:ListBucketMultipartUploads', bucket: 'out-bucket', prefix: 'gz/', reason: 'sweep' },
];

const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function review(
  doc: unknown,
  options: PolicyCheckOptions = {},
  permissions: Permission[] = transform,
): PolicyCheckReport {
  return checkPolicy(permissions, [readPolicyInput(JSON.stringify(doc), 'policy.json')], options);
}

function statements(...list: Array<Partial<PolicyStatement> & Record<string, unknown>>) {
  return { Version: '2012-10-17', Statement: list };
}

/** The generated policy with `change` applied to its statements (free to write any IAM). */
function generated(
  change: (s: PolicyStatement[]) => Array<PolicyStatement | Record<string, unknown>>,
  options: Parameters<typeof buildPolicy>[1] = {},
): unknown {
  const doc = buildPolicy(transform, options);
  return { ...doc, Statement: change(structuredClone(doc.Statement)) };
}

const verdictOf = (r: PolicyCheckReport, action: string, resource: string) =>
  r.needs.find((n) => n.action === action && n.resource === resource);
const kinds = (r: PolicyCheckReport) =>
  r.statements.flatMap((s) => s.findings.map((f) => `${s.statement} ${f.kind}`));

describe('checkPolicy', () => {
  it('finds the generated policy an exact fit (exit 0)', () => {
    const r = review(buildPolicy(transform));
    expect(r.needs.map((n) => n.verdict)).toEqual(Array(7).fill('granted'));
    expect(kinds(r)).toEqual([]);
    expect(r.verdict).toBe('fits');
    expect(r.exitCode).toBe(PolicyCheckExitCode.Fits);
    expect(verdictOf(r, 's3:PutObject', 'arn:aws:s3:::out-bucket/gz/*')?.grantedBy).toEqual([
      'Objects2',
    ]);
  });

  it('finds the generated policy with every option an exact fit when checked with the same options', () => {
    for (const options of [
      { denyInsecureTransport: true, network: { sourceVpce: ['vpce-0a1b2c3d', 'vpce-1a2b3c4d'] } },
      { network: { sourceVpc: 'vpc-0a1b2c3d', sourceVpce: ['vpce-0a1b2c3d'] } },
      { denyInsecureTransport: true, network: { sourceIp: ['203.0.113.0/24', '2001:db8::/32'] } },
    ]) {
      const r = review(buildPolicy(transform, options), options);
      expect(r.verdict, JSON.stringify(options)).toBe('fits');
    }
  });

  it('finds a KMS key named by alias granted by the generated alias condition', () => {
    const permissions: Permission[] = [
      ...transform,
      {
        action: 'kms:GenerateDataKey',
        resource: 'arn:aws:kms:*:*:key/*',
        condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/logs'] } },
        reason: 'encrypt outputs',
      },
    ];
    const options = { network: { sourceVpce: ['vpce-0a1b2c3d'] } };
    const r = review(buildPolicy(permissions, options), options, permissions);
    expect(r.verdict).toBe('fits');
    // A grant on one key ARN may or may not be the aliased key.
    const one = review(
      generated((s) => [
        ...s,
        { Sid: 'Kms', Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: KEY },
      ]),
      {},
      permissions,
    );
    expect(verdictOf(one, 'kms:GenerateDataKey', 'arn:aws:kms:*:*:key/*')?.verdict).toBe(
      'cannot-tell',
    );
  });

  it('reports s3:* on * as broader: every action, every resource, whole-bucket listings (exit 20)', () => {
    const r = review(statements({ Effect: 'Allow', Action: 's3:*', Resource: '*' }));
    expect(r.needs.every((n) => n.verdict === 'granted')).toBe(true);
    expect(r.verdict).toBe('broader');
    expect(r.exitCode).toBe(PolicyCheckExitCode.Broader);
    expect(kinds(r)).toEqual([
      '#1 all-actions',
      '#1 any-resource',
      '#1 list-beyond-prefix',
      '#1 list-beyond-prefix',
    ]);
    const all = r.statements[0]!.findings[0]!;
    expect(all.text).toContain('s3:DeleteObject');
    expect(r.statements[0]!.findings[2]!.text).toContain('the whole bucket');
  });

  it('reports a statement for another bucket', () => {
    const r = review(
      generated((s) => [
        ...s,
        {
          Sid: 'Other',
          Effect: 'Allow',
          Action: ['s3:GetObject'],
          Resource: ['arn:aws:s3:::other-bucket/*'],
        },
      ]),
    );
    expect(r.verdict).toBe('broader');
    expect(kinds(r)).toEqual(['Other other-bucket']);
    expect(r.statements.at(-1)!.findings[0]!.text).toContain('arn:aws:s3:::other-bucket/*');
  });

  it('reports a missing s3:AbortMultipartUpload (exit 22)', () => {
    const r = review(
      generated((s) =>
        s.map((st) => ({
          ...st,
          Action: [st.Action].flat().filter((a) => a !== 's3:AbortMultipartUpload'),
        })),
      ),
    );
    const abort = verdictOf(r, 's3:AbortMultipartUpload', 'arn:aws:s3:::out-bucket/gz/*');
    expect(abort?.verdict).toBe('missing');
    expect(abort?.detail).toBe('no statement allows s3:AbortMultipartUpload');
    expect(r.needs.filter((n) => n.verdict !== 'granted')).toHaveLength(1);
    expect(r.verdict).toBe('missing');
    expect(r.exitCode).toBe(PolicyCheckExitCode.Missing);
  });

  it('reports a Deny that removes a needed action, naming the statement and a denied key', () => {
    const r = review(
      generated((s) => [
        ...s,
        {
          Sid: 'NoSecrets',
          Effect: 'Deny',
          Action: ['s3:Get*'],
          Resource: ['arn:aws:s3:::in-bucket/raw/secret/*'],
        },
      ]),
    );
    const read = verdictOf(r, 's3:GetObject', 'arn:aws:s3:::in-bucket/raw/*');
    expect(read?.verdict).toBe('missing');
    expect(read?.detail).toBe(
      's3:GetObject on arn:aws:s3:::in-bucket/raw/secret/ is denied by NoSecrets',
    );
    // The Deny elsewhere takes nothing from the output.
    expect(verdictOf(r, 's3:GetObject', 'arn:aws:s3:::out-bucket/gz/*')?.verdict).toBe('granted');
  });

  it('leaves a Deny on another condition as "cannot tell", never granted', () => {
    const r = review(
      generated((s) => [
        ...s,
        {
          Sid: 'OnlyTeam',
          Effect: 'Deny',
          Action: ['s3:*'],
          Resource: ['*'],
          Condition: { StringNotEquals: { 'aws:PrincipalTag/team': 'data' } },
        },
      ]),
    );
    expect(r.needs.every((n) => n.verdict === 'cannot-tell')).toBe(true);
    expect(r.needs[0]?.detail).toContain('Deny OnlyTeam (StringNotEquals aws:PrincipalTag/team)');
    expect(r.exitCode).toBe(PolicyCheckExitCode.CannotTell);
  });

  it('reads NotAction: an Allow of everything but Delete* is broader, a Deny of everything but reads removes writes', () => {
    const allowAllBut = review(
      statements({
        Sid: 'AllButDelete',
        Effect: 'Allow',
        NotAction: ['s3:Delete*'],
        Resource: [
          'arn:aws:s3:::in-bucket',
          'arn:aws:s3:::in-bucket/raw/*',
          'arn:aws:s3:::out-bucket',
          'arn:aws:s3:::out-bucket/gz/*',
        ],
      }),
    );
    expect(allowAllBut.needs.every((n) => n.verdict === 'granted')).toBe(true);
    expect(kinds(allowAllBut)).toContain('AllButDelete not-action');
    expect(allowAllBut.statements[0]!.findings[0]!.text).not.toContain('s3:DeleteObject');

    const readOnly = review(
      generated((s) => [
        ...s,
        { Sid: 'ReadOnly', Effect: 'Deny', NotAction: ['s3:Get*', 's3:List*'], Resource: '*' },
      ]),
    );
    expect(readOnly.needs.filter((n) => n.verdict === 'missing').map((n) => n.action)).toEqual([
      's3:PutObject',
      's3:AbortMultipartUpload',
    ]);
  });

  it('follows IAM on absent keys: an s3:prefix condition on object actions grants none of them', () => {
    const r = review(
      statements({
        Sid: 'Everything',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:ListBucket'],
        Resource: ['arn:aws:s3:::in-bucket', 'arn:aws:s3:::in-bucket/raw/*'],
        Condition: { StringLike: { 's3:prefix': ['raw/*'] } },
      }),
      {},
      transform.slice(0, 2),
    );
    expect(r.needs.map((n) => n.verdict)).toEqual(['granted', 'missing']);
    expect(r.needs[1]?.detail).toContain('its condition StringLike s3:prefix does not hold');
  });

  it('tells raw* from raw/*: raw* grants raw/ and more, raw/* does not grant the prefix raw', () => {
    const wide = review(
      generated((s) =>
        s.map((st) =>
          st.Sid === 'Objects1' ? { ...st, Resource: ['arn:aws:s3:::in-bucket/raw*'] } : st,
        ),
      ),
    );
    expect(verdictOf(wide, 's3:GetObject', 'arn:aws:s3:::in-bucket/raw/*')?.verdict).toBe(
      'granted',
    );
    expect(kinds(wide)).toEqual(['Objects1 wider-prefix']);
    expect(wide.statements[1]!.findings[0]!.example).toBe('arn:aws:s3:::in-bucket/raw');

    const noSlash: Permission[] = [
      { action: 's3:GetObject', bucket: 'in-bucket', prefix: 'raw', reason: 'read input' },
    ];
    const narrow = review(
      statements({
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: 'arn:aws:s3:::in-bucket/raw/*',
      }),
      {},
      noSlash,
    );
    expect(narrow.needs[0]?.verdict).toBe('missing');
    expect(narrow.needs[0]?.detail).toContain('on arn:aws:s3:::in-bucket/raw is not allowed');
  });

  it('reports an unknown condition key as "cannot tell" (exit 21)', () => {
    const r = review(
      generated((s) =>
        s.map((st) =>
          st.Sid === 'Objects2'
            ? { ...st, Condition: { StringEquals: { 'aws:PrincipalTag/team': 'data' } } }
            : st,
        ),
      ),
    );
    const put = verdictOf(r, 's3:PutObject', 'arn:aws:s3:::out-bucket/gz/*');
    expect(put?.verdict).toBe('cannot-tell');
    expect(put?.detail).toContain('Allow Objects2 (StringEquals aws:PrincipalTag/team)');
    expect(r.verdict).toBe('cannot-tell');
    expect(r.exitCode).toBe(PolicyCheckExitCode.CannotTell);
  });

  it('reports writes where the job only reads, and Delete actions it never uses', () => {
    const r = review(
      generated((s) => [
        ...s,
        {
          Sid: 'Extra',
          Effect: 'Allow',
          Action: ['s3:PutObject', 's3:DeleteObject'],
          Resource: ['arn:aws:s3:::in-bucket/raw/*'],
        },
      ]),
    );
    expect(kinds(r)).toEqual(['Extra delete', 'Extra write-where-read']);
  });

  it('reads s3:prefix conditions: a narrower one is missing with the prefix sent, a wider one broader', () => {
    const narrower = review(
      generated((s) =>
        s.map((st) =>
          st.Sid === 'List1'
            ? { ...st, Condition: { StringLike: { 's3:prefix': ['raw/2026/*'] } } }
            : st,
        ),
      ),
    );
    expect(verdictOf(narrower, 's3:ListBucket', 'arn:aws:s3:::in-bucket')?.detail).toBe(
      's3:ListBucket on arn:aws:s3:::in-bucket with s3:prefix "raw/" is not allowed; statements naming the action: List1 (Resource arn:aws:s3:::in-bucket); List2 (Resource arn:aws:s3:::out-bucket)',
    );
    const wider = review(
      generated((s) =>
        s.map((st) =>
          st.Sid === 'List1' ? { ...st, Condition: { StringLike: { 's3:prefix': ['r*'] } } } : st,
        ),
      ),
    );
    expect(wider.verdict).toBe('broader');
    expect(kinds(wider)).toEqual(['List1 list-beyond-prefix']);
  });

  it('with --source-vpce, reports a policy without the condition as broader, one for another endpoint as missing', () => {
    const options = { network: { sourceVpce: ['vpce-0a1b2c3d'] } };
    const open = review(buildPolicy(transform), options);
    expect(open.verdict).toBe('broader');
    expect(open.statements[0]!.findings.map((f) => f.text)).toEqual([
      'allows s3:ListBucket from the internet: no aws:SourceVpce vpce-0a1b2c3d',
      'allows s3:ListBucket through another VPC endpoint: no aws:SourceVpce vpce-0a1b2c3d',
    ]);
    const other = review(
      buildPolicy(transform, { network: { sourceVpce: ['vpce-99999999'] } }),
      options,
    );
    expect(other.needs.every((n) => n.verdict === 'missing')).toBe(true);
    expect(other.needs[0]?.detail).toContain(
      'its condition StringEquals aws:SourceVpce does not hold',
    );
  });

  it('accepts a Deny-based network guard (the usual StringNotEquals aws:SourceVpce) as an exact fit', () => {
    const options = { network: { sourceVpce: ['vpce-0a1b2c3d'] } };
    const r = review(
      generated((s) => [
        ...s,
        {
          Sid: 'OnlyFromEndpoint',
          Effect: 'Deny',
          Action: ['s3:*'],
          Resource: ['*'],
          Condition: { StringNotEquals: { 'aws:SourceVpce': 'vpce-0a1b2c3d' } },
        },
      ]),
      options,
    );
    expect(r.verdict).toBe('fits');
  });

  it('evaluates aws:SourceIp ranges: inside is granted, outside missing', () => {
    const doc = buildPolicy(transform, { network: { sourceIp: ['10.0.0.0/8'] } });
    expect(review(doc, { network: { sourceIp: ['10.1.0.0/16'] } }).needs[0]?.verdict).toBe(
      'granted',
    );
    expect(review(doc, { network: { sourceIp: ['203.0.113.0/24'] } }).verdict).toBe('missing');
    expect(review(doc, { network: { sourceIp: ['0.0.0.0/0'] } }).verdict).toBe('cannot-tell');
  });

  it('with --deny-insecure-transport, reports a policy that still allows plain HTTP', () => {
    const r = review(buildPolicy(transform), { denyInsecureTransport: true });
    expect(r.verdict).toBe('broader');
    expect(new Set(kinds(r).map((k) => k.split(' ')[1]))).toEqual(new Set(['insecure-transport']));
  });

  it('leaves a resource with a request-time variable as "cannot tell"', () => {
    const r = review(
      generated((s) =>
        s.map((st) =>
          st.Sid === 'Objects1'
            ? // biome-ignore lint/suspicious/noTemplateCurlyInString: IAM syntax
              { ...st, Resource: ['arn:aws:s3:::in-bucket/${aws:username}/*'] }
            : st,
        ),
      ),
    );
    expect(verdictOf(r, 's3:GetObject', 'arn:aws:s3:::in-bucket/raw/*')?.verdict).toBe(
      'cannot-tell',
    );
  });

  it('takes the union of several documents, labelling statements with their file', () => {
    const [a, b] = [buildPolicy(transform.slice(0, 3)), buildPolicy(transform.slice(3))];
    const r = checkPolicy(transform, [
      readPolicyInput(JSON.stringify(a), 'a.json'),
      readPolicyInput(JSON.stringify(b), 'b.json'),
    ]);
    expect(r.verdict).toBe('fits');
    expect(r.needs[0]?.grantedBy).toEqual(['a.json:List1']);
  });

  it('formats a table whose last line is the verdict and exit code', () => {
    const text = formatPolicyCheck(
      review(statements({ Effect: 'Allow', Action: 's3:*', Resource: '*' })),
    );
    expect(text).toMatch(
      /^Permissions the job needs\nVERDICT +ACTION +RESOURCE +WHY +GRANTED BY\n/,
    );
    expect(text).toContain('granted  s3:ListBucket');
    expect(text.trimEnd().split('\n').at(-1)).toBe(
      'verdict: broader than needed: every permission the job needs is granted, and more (see above) (exit 20)',
    );
  });
});

describe('readPolicyInput', () => {
  const doc = buildPolicy(transform);

  it('unwraps aws iam get-role-policy and get-policy-version output, and URL-encoded documents', () => {
    const forms = [
      doc,
      { RoleName: 'r', PolicyName: 'p', PolicyDocument: doc },
      { PolicyVersion: { Document: doc, VersionId: 'v3', IsDefaultVersion: true } },
      { RoleName: 'r', PolicyName: 'p', PolicyDocument: encodeURIComponent(JSON.stringify(doc)) },
      { PolicyVersion: { Document: JSON.stringify(doc) } },
    ];
    for (const form of forms) {
      const read = readPolicyInput(JSON.stringify(form), 'in.json');
      expect(read.statements.map((s) => s.label)).toEqual(doc.Statement.map((s) => s.Sid));
      expect(read.version).toBe('2012-10-17');
    }
  });

  it('reads a single statement object, string fields and boolean condition values', () => {
    const read = readPolicyInput(
      JSON.stringify({
        Version: '2012-10-17',
        Statement: {
          Effect: 'Deny',
          NotAction: 's3:GetObject',
          Resource: '*',
          Condition: { Bool: { 'aws:SecureTransport': false } },
        },
      }),
      'x',
    );
    expect(read.statements).toEqual([
      {
        label: '#1',
        source: 'x',
        index: 0,
        effect: 'Deny',
        action: { not: true, values: ['s3:GetObject'] },
        resource: { not: false, values: ['*'] },
        condition: { Bool: { 'aws:SecureTransport': ['false'] } },
      },
    ]);
  });

  it('refuses a resource policy, bad JSON and a statement without Action or Resource, naming the file', () => {
    const bad = [
      ['{', /in\.json: not valid JSON/],
      [
        JSON.stringify({
          Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:*', Resource: '*' }],
        }),
        /resource policy/,
      ],
      [
        JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 's3:*' }] }),
        /neither Resource nor NotResource/,
      ],
      [
        JSON.stringify({ Statement: [{ Effect: 'Maybe', Action: 's3:*', Resource: '*' }] }),
        /Effect must be Allow or Deny/,
      ],
      [JSON.stringify({ Version: '2012-10-17' }), /no Statement/],
    ] as const;
    for (const [text, message] of bad) {
      expect(() => readPolicyInput(text, 'in.json')).toThrow(message);
    }
  });
});
