import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { policyProblems } from '../../src/policy/policy-problems.js';
import { buildTrustPolicy } from '../../src/policy/trust-policy.js';

describe('buildTrustPolicy', () => {
  it('lets only ecs-tasks assume the role, for this account and region (confused deputy)', () => {
    const doc = buildTrustPolicy({ accountId: '123456789012', region: 'eu-west-1' });
    expect(doc).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'EcsTasksAssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'ecs-tasks.amazonaws.com' },
          Action: 'sts:AssumeRole',
          Condition: {
            ArnLike: { 'aws:SourceArn': 'arn:aws:ecs:eu-west-1:123456789012:*' },
            StringEquals: { 'aws:SourceAccount': '123456789012' },
          },
        },
      ],
    });
    expect(policyProblems(doc, 'trust')).toEqual([]);
  });

  it('shows placeholders for what was not given', () => {
    const text = JSON.stringify(buildTrustPolicy());
    expect(text).toContain('arn:aws:ecs:<REGION>:<ACCOUNT_ID>:*');
    expect(text).toContain('"aws:SourceAccount":"<ACCOUNT_ID>"');
  });

  it('rejects a malformed account id, region and partition, listing each', () => {
    let caught: unknown;
    try {
      buildTrustPolicy({ accountId: '1234', region: 'Europe', partition: 'azure' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).issues.map((i) => i.path)).toEqual([
      'accountId',
      'region',
      'partition',
    ]);
  });
});
