import { describe, expect, it } from 'vitest';
import type { Permission } from '../../src/jobs/permissions.js';
import { buildPolicy } from '../../src/policy/build-policy.js';
import { parseCidr } from '../../src/policy/cidr.js';
import { evaluateCondition } from '../../src/policy/evaluate-condition.js';
import {
  checkNetworkConditions,
  networkConditionNotes,
} from '../../src/policy/network-conditions.js';
import { policyProblems } from '../../src/policy/policy-problems.js';
import { type ContextValue, requestContext } from '../../src/policy/request-context.js';
import { ALL, has, literalSet, NONE, union } from '../../src/policy/string-set.js';

const one = (...values: string[]): ContextValue => ({
  kind: 'one',
  set: union(...values.map((v) => literalSet(v))),
});

/** yes / no / unknown for a condition block on fixed keys. */
function outcome(
  condition: Record<string, Record<string, string[]>>,
  context: Record<string, ContextValue>,
): string {
  const o = evaluateCondition(condition, requestContext(Object.entries(context)), {
    variables: true,
  });
  if (o.sure === ALL) return 'yes';
  if (o.maybe === NONE) return 'no';
  return 'unknown';
}

describe('evaluateCondition', () => {
  const absent: ContextValue = { kind: 'absent' };

  it('fails a matching operator and passes a negated one on an absent key, as IAM does', () => {
    const key = { 'aws:SourceVpce': ['vpce-0a1b2c3d'] };
    expect(outcome({ StringEquals: key }, { 'aws:SourceVpce': absent })).toBe('no');
    expect(outcome({ StringNotEquals: key }, { 'aws:SourceVpce': absent })).toBe('yes');
    expect(outcome({ StringEqualsIfExists: key }, { 'aws:SourceVpce': absent })).toBe('yes');
    expect(outcome({ 'ForAllValues:StringEquals': key }, { 'aws:SourceVpce': absent })).toBe('yes');
    expect(outcome({ 'ForAnyValue:StringEquals': key }, { 'aws:SourceVpce': absent })).toBe('no');
    expect(outcome({ Null: { 'aws:SourceVpce': ['true'] } }, { 'aws:SourceVpce': absent })).toBe(
      'yes',
    );
    expect(outcome({ Null: { 'aws:SourceVpce': ['false'] } }, { 'aws:SourceVpce': absent })).toBe(
      'no',
    );
  });

  it('compares known values, key names without case, Bool values without case', () => {
    const vpce = { 'aws:sourcevpce': one('vpce-0a1b2c3d') };
    expect(outcome({ StringEquals: { 'aws:SourceVpce': ['vpce-0a1b2c3d'] } }, vpce)).toBe('yes');
    expect(outcome({ StringLike: { 'AWS:SOURCEVPCE': ['vpce-0a*'] } }, vpce)).toBe('yes');
    expect(outcome({ StringEquals: { 'aws:SourceVpce': ['vpce-0a*'] } }, vpce)).toBe('no');
    expect(
      outcome(
        { Bool: { 'aws:SecureTransport': ['TRUE'] } },
        { 'aws:securetransport': one('true') },
      ),
    ).toBe('yes');
    // The task may use either endpoint: a policy allowing one of them cannot be told.
    const either = { 'aws:sourcevpce': one('vpce-0a1b2c3d', 'vpce-1a2b3c4d') };
    expect(outcome({ StringEquals: { 'aws:SourceVpce': ['vpce-0a1b2c3d'] } }, either)).toBe(
      'unknown',
    );
  });

  it('compares address ranges for IpAddress and NotIpAddress', () => {
    const loopback = {
      'aws:sourceip': { kind: 'ip', ranges: [parseCidr('127.0.0.1')!] } as ContextValue,
    };
    expect(outcome({ IpAddress: { 'aws:SourceIp': ['127.0.0.0/8'] } }, loopback)).toBe('yes');
    expect(outcome({ IpAddress: { 'aws:SourceIp': ['10.0.0.0/8'] } }, loopback)).toBe('no');
    expect(outcome({ NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8'] } }, loopback)).toBe('yes');
  });

  it('cannot tell an unknown key, a numeric or date operator, or a value with a variable', () => {
    expect(outcome({ StringEquals: { 'aws:PrincipalTag/team': ['data'] } }, {})).toBe('unknown');
    expect(
      outcome({ NumericLessThan: { 's3:max-keys': ['10'] } }, { 's3:max-keys': one('5') }),
    ).toBe('unknown');
    expect(outcome({ DateLessThan: { 'aws:CurrentTime': ['2030-01-01T00:00:00Z'] } }, {})).toBe(
      'unknown',
    );
    expect(
      outcome(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: IAM syntax
        { StringEquals: { 'aws:SourceVpce': ['${aws:username}'] } },
        { 'aws:sourcevpce': one('vpce-0a1b2c3d') },
      ),
    ).toBe('unknown');
  });

  it('turns conditions on the varying key into the values they allow', () => {
    const o = evaluateCondition(
      { StringLike: { 's3:prefix': ['raw/*'] }, StringNotLike: { 's3:prefix': ['raw/tmp/*'] } },
      requestContext(),
      { targetKey: 's3:prefix', variables: true },
    );
    expect(has(o.sure, 'raw/a')).toBe(true);
    expect(has(o.sure, 'raw/tmp/a')).toBe(false);
    expect(has(o.sure, 'other/')).toBe(false);
    expect(o.unknown).toEqual([]);
  });
});

describe('network conditions in the generated policy', () => {
  const perms: Permission[] = [
    { action: 's3:ListBucket', bucket: 'b', prefix: 'in/', reason: 'list' },
    { action: 's3:GetObject', bucket: 'b', prefix: 'in/', reason: 'read' },
    { action: 'kms:Decrypt', resource: 'arn:aws:kms:eu-west-1:123456789012:key/k', reason: 'kms' },
  ];

  it('adds aws:SourceVpce to every S3 Allow statement, beside s3:prefix, and none to KMS: valid IAM', () => {
    const doc = buildPolicy(perms, {
      network: { sourceVpce: ['vpce-0a1b2c3d', 'vpce-0a1b2c3d4e5f67890'] },
      denyInsecureTransport: true,
    });
    expect(policyProblems(doc, 'identity')).toEqual([]);
    expect(doc.Statement.map((s) => [s.Sid, s.Condition])).toEqual([
      [
        'List1',
        {
          StringLike: { 's3:prefix': ['in/*', 'in/'] },
          StringEquals: { 'aws:SourceVpce': ['vpce-0a1b2c3d', 'vpce-0a1b2c3d4e5f67890'] },
        },
      ],
      [
        'Objects1',
        { StringEquals: { 'aws:SourceVpce': ['vpce-0a1b2c3d', 'vpce-0a1b2c3d4e5f67890'] } },
      ],
      ['Kms1', undefined],
      ['DenyInsecureTransport', { Bool: { 'aws:SecureTransport': 'false' } }],
    ]);
  });

  it('adds aws:SourceVpc and aws:SourceIp (normalised ranges, IpAddress): valid IAM', () => {
    const vpc = buildPolicy(perms, { network: { sourceVpc: 'vpc-0a1b2c3d' } });
    expect(policyProblems(vpc, 'identity')).toEqual([]);
    expect(vpc.Statement[1]?.Condition).toEqual({
      StringEquals: { 'aws:SourceVpc': 'vpc-0a1b2c3d' },
    });
    const ip = buildPolicy(perms, { network: { sourceIp: ['203.0.113.9/24', '2001:db8::/32'] } });
    expect(policyProblems(ip, 'identity')).toEqual([]);
    expect(ip.Statement[1]?.Condition).toEqual({
      IpAddress: { 'aws:SourceIp': ['203.0.113.0/24', '2001:db8::/32'] },
    });
  });

  it('refuses malformed ids and ranges, and --source-ip with a VPC condition, naming each', () => {
    expect(() =>
      checkNetworkConditions({
        sourceVpce: ['vpc-0a1b2c3d'],
        sourceVpc: 'vpce-1',
        sourceIp: ['10.0.0.0/40'],
      }),
    ).toThrow(
      /--source-vpce: vpc-0a1b2c3d is not a VPC endpoint id[\s\S]*--source-vpc: vpce-1[\s\S]*--source-ip: 10\.0\.0\.0\/40/,
    );
    expect(() =>
      buildPolicy(perms, { network: { sourceVpce: ['vpce-0a1b2c3d'], sourceIp: ['10.0.0.0/8'] } }),
    ).toThrow(/carry no aws:SourceIp/);
  });

  it('explains when each condition holds and locks the task out; warns that aws:SourceIp skips VPC endpoints', () => {
    const notes = networkConditionNotes(checkNetworkConditions({ sourceIp: ['203.0.113.0/24'] }));
    expect(notes[0]).toMatch(
      /Holds when .*Warning: it does not apply to traffic through a VPC endpoint/,
    );
    expect(notes.at(-1)).toMatch(/KMS statements get no network condition/);
    const vpce = networkConditionNotes(checkNetworkConditions({ sourceVpce: ['vpce-0a1b2c3d'] }));
    expect(vpce[0]).toMatch(/Locks the task out when/);
    expect(networkConditionNotes(checkNetworkConditions({}))).toEqual([]);
  });
});
