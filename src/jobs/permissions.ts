/**
 * A permission a job needs, as data: `s3worker policy` turns a job's list into an IAM policy
 * and `s3worker doctor` probes each one.
 */
export interface Permission {
  /** IAM action, e.g. `s3:GetObject`, `s3:ListBucket`, `kms:GenerateDataKey`. */
  action: string;
  /** The bucket it applies to (S3 actions). */
  bucket?: string;
  /**
   * Key prefix inside the bucket: object actions apply to `bucket/prefix*`; for `s3:ListBucket`
   * it becomes an `s3:prefix` condition. Empty or absent means the whole bucket.
   */
  prefix?: string;
  /** A full resource ARN, for non-S3 actions (e.g. a KMS key). */
  resource?: string;
  /**
   * Where a non-S3 resource is reached, when its ARN does not say (an SQS queue URL): `doctor`
   * probes it there. Not part of the policy.
   */
  url?: string;
  /**
   * An IAM condition that narrows a non-S3 permission, as operator → key → values (e.g. a KMS key
   * named by alias: `{ 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/logs'] } }`).
   */
  condition?: Record<string, Record<string, string | string[]>>;
  /** Why the job needs it, in a few words ("read input objects"). */
  reason: string;
}
