/** The only IAM policy language version with policy variables; every document s3worker writes uses it. */
export const IAM_POLICY_VERSION = '2012-10-17' as const;

/** A condition block: operator (`StringLike`, `Bool`, ...) → condition key → value(s). */
export type PolicyCondition = Record<string, Record<string, string | string[]>>;

/** One statement of an IAM policy, in the shape IAM (and MinIO) accept. */
export interface PolicyStatement {
  /** Stable id: the same permissions always give the same Sids, so diffs of generated files stay small. */
  Sid: string;
  Effect: 'Allow' | 'Deny';
  /** Present on trust policies only. */
  Principal?: Record<string, string | string[]>;
  Action: string | string[];
  /** Absent on trust policies (the role itself is the resource). */
  Resource?: string | string[];
  Condition?: PolicyCondition;
}

/** An IAM policy document (identity policy or trust policy). */
export interface PolicyDocument {
  Version: typeof IAM_POLICY_VERSION;
  Statement: PolicyStatement[];
}
