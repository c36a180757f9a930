/**
 * What an S3 action's resource is: the bucket (`arn:aws:s3:::bucket`), objects in it
 * (`arn:aws:s3:::bucket/key`), or the account (`*`, e.g. `s3:ListAllMyBuckets`). An action granted
 * on the wrong kind of ARN silently grants nothing, so the policy generator asks this for each one.
 */
export type S3ActionScope = 'bucket' | 'object' | 'account';

const ACCOUNT_ACTIONS = new Set(['s3:ListAllMyBuckets']);

// Bucket actions whose names do not say "Bucket" or "Configuration".
const BUCKET_ACTIONS = new Set([
  's3:ListBucket',
  's3:ListBucketVersions',
  's3:ListBucketMultipartUploads',
  's3:GetLifecycleConfiguration',
  's3:PutLifecycleConfiguration',
  's3:GetEncryptionConfiguration',
  's3:PutEncryptionConfiguration',
  's3:GetReplicationConfiguration',
  's3:GetInventoryConfiguration',
  's3:GetAccelerateConfiguration',
  's3:GetAnalyticsConfiguration',
  's3:GetMetricsConfiguration',
  's3:GetIntelligentTieringConfiguration',
]);

/** The resource kind of an `s3:` action; anything not known to be bucket- or account-level is an object action. */
export function s3ActionScope(action: string): S3ActionScope {
  if (ACCOUNT_ACTIONS.has(action)) return 'account';
  if (BUCKET_ACTIONS.has(action)) return 'bucket';
  if (/^s3:(Get|Put|Delete)Bucket/.test(action)) return 'bucket';
  return 'object';
}

/** The `s3:` actions whose requests carry the `s3:prefix` condition key (the listing ones). */
export const PREFIX_CONDITION_ACTIONS: ReadonlySet<string> = new Set([
  's3:ListBucket',
  's3:ListBucketVersions',
]);
