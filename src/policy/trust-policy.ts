import { ConfigError, type ConfigIssue } from '../errors.js';
import { IAM_POLICY_VERSION, type PolicyDocument } from './policy-document.js';

/** Shown where the account id belongs when none is given; IAM rejects it, so it cannot ship by mistake. */
export const ACCOUNT_ID_PLACEHOLDER = '<ACCOUNT_ID>';
/** Shown where the region belongs when none is given. */
export const REGION_PLACEHOLDER = '<REGION>';

/** Options of {@link buildTrustPolicy}. */
export interface TrustPolicyOptions {
  /** The 12-digit AWS account that runs the tasks; default the `<ACCOUNT_ID>` placeholder. */
  accountId?: string | undefined;
  /** The region the tasks run in (`aws:SourceArn` names it); default the `<REGION>` placeholder. */
  region?: string | undefined;
  /** AWS partition of the ARNs; default `aws` (`aws-cn`, `aws-us-gov` elsewhere). */
  partition?: string | undefined;
}

/**
 * The trust policy of the ECS task role: only `ecs-tasks.amazonaws.com` may assume it, and only
 * on behalf of ECS resources of this account and region (`aws:SourceAccount` and
 * `aws:SourceArn` guard against the confused-deputy problem: another account's task cannot be
 * given this role). Missing account or region come out as visible placeholders.
 *
 * @throws ConfigError when the account id or region is malformed.
 */
export function buildTrustPolicy(options: TrustPolicyOptions = {}): PolicyDocument {
  const issues: ConfigIssue[] = [];
  if (options.accountId !== undefined && !/^\d{12}$/.test(options.accountId)) {
    issues.push({ path: 'accountId', message: 'must be 12 digits, e.g. 123456789012' });
  }
  if (options.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(options.region)) {
    issues.push({ path: 'region', message: 'must be an AWS region name, e.g. eu-west-1' });
  }
  if (options.partition !== undefined && !/^aws(-[a-z]+)*$/.test(options.partition)) {
    issues.push({ path: 'partition', message: 'must be aws, aws-cn or aws-us-gov' });
  }
  if (issues.length > 0) {
    throw new ConfigError(issues, {
      hint: '`s3worker policy --help` describes --account-id, --region and --partition',
    });
  }

  const account = options.accountId ?? ACCOUNT_ID_PLACEHOLDER;
  const region = options.region ?? REGION_PLACEHOLDER;
  const partition = options.partition ?? 'aws';
  return {
    Version: IAM_POLICY_VERSION,
    Statement: [
      {
        Sid: 'EcsTasksAssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'ecs-tasks.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: {
          ArnLike: { 'aws:SourceArn': `arn:${partition}:ecs:${region}:${account}:*` },
          StringEquals: { 'aws:SourceAccount': account },
        },
      },
    ],
  };
}
