import { iamPatterns } from './iam-pattern.js';
import { complement, has, intersection, type StringSet } from './string-set.js';

/** What an action does to the data, as read from its name (the convention every AWS service follows). */
export type ActionAccess = 'read' | 'write' | 'delete';

const lowerPatterns = (texts: string[]): StringSet =>
  iamPatterns(texts, { wildcards: true, variables: false }).over;

/** Actions that only read (`Get*`, `List*`, `Describe*`, `Head*`), lower case. */
export const READ_ACTIONS: StringSet = lowerPatterns([
  '*:get*',
  '*:list*',
  '*:describe*',
  '*:head*',
]);
/** Actions that delete (`Delete*`), lower case. */
export const DELETE_ACTIONS: StringSet = lowerPatterns(['*:delete*']);
/** Every other S3 action: writes (`Put*`, `Abort*`, `Restore*`, `Replicate*`, ...), lower case. */
export const S3_WRITE_ACTIONS: StringSet = intersection(
  lowerPatterns(['s3:*']),
  complement(READ_ACTIONS),
  complement(DELETE_ACTIONS),
);

/** Whether `action` reads, deletes, or (anything else) writes. */
export function actionAccess(action: string): ActionAccess {
  const a = action.toLowerCase();
  if (has(DELETE_ACTIONS, a)) return 'delete';
  if (has(READ_ACTIONS, a)) return 'read';
  return 'write';
}

/**
 * Real actions a wildcard may stand for, to name in a report (a wildcard's set of strings is
 * infinite; these make it concrete). The ones a broad grant most often exposes come first.
 */
const EXAMPLE_ACTIONS = [
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:PutObject',
  's3:PutBucketPolicy',
  's3:DeleteBucket',
  's3:PutObjectAcl',
  's3:PutLifecycleConfiguration',
  's3:GetObject',
  's3:ListBucket',
  's3:ListAllMyBuckets',
  's3:GetBucketPolicy',
  's3:GetObjectAcl',
  's3:PutBucketAcl',
  's3:PutObjectTagging',
  's3:DeleteObjectTagging',
  's3:BypassGovernanceRetention',
  's3:PutObjectRetention',
  's3:RestoreObject',
  's3:ReplicateObject',
  's3:AbortMultipartUpload',
  's3:ListBucketMultipartUploads',
  's3:GetObjectVersion',
  's3:GetObjectTagging',
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:ReEncryptFrom',
  'kms:CreateGrant',
  'kms:ScheduleKeyDeletion',
  'kms:PutKeyPolicy',
];

/** Up to `max` well-known actions in `actions` (a set of lower-case action names). */
export function exampleActions(actions: StringSet, max = 4): string[] {
  return EXAMPLE_ACTIONS.filter((a) => has(actions, a.toLowerCase())).slice(0, max);
}
