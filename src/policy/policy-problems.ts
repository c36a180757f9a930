import type { PolicyDocument } from './policy-document.js';

const SID = /^[A-Za-z0-9]+$/;
const ACTION = /^[a-z0-9-]+:[A-Za-z0-9*]+$/;
// Region and account may be `*` (any), as in a KMS key given only by id or alias.
const ARN = /^arn:aws[a-z-]*:[a-z0-9-]+:([a-z0-9-]*|\*):(\d{12}|<ACCOUNT_ID>|\*)?:.+$/;
const MAX_IDENTITY_POLICY_CHARS = 6144;

/**
 * What makes a document invalid IAM (or over a size IAM enforces), as sentences; empty when
 * valid. Checks the grammar s3worker relies on — version, unique alphanumeric Sids, `service:Action`
 * names, ARN shapes, condition blocks — not the full IAM grammar.
 */
export function policyProblems(doc: PolicyDocument, kind: 'identity' | 'trust'): string[] {
  const problems: string[] = [];
  if (doc.Version !== '2012-10-17') problems.push(`Version must be 2012-10-17, not ${doc.Version}`);
  if (!Array.isArray(doc.Statement) || doc.Statement.length === 0) {
    problems.push('Statement must be a non-empty array');
    return problems;
  }
  const sids = new Set<string>();
  for (const [i, s] of doc.Statement.entries()) {
    const at = `Statement[${i}]${s.Sid ? ` (${s.Sid})` : ''}`;
    if (!SID.test(s.Sid)) problems.push(`${at}: Sid must be letters and digits only`);
    if (sids.has(s.Sid)) problems.push(`${at}: Sid is not unique`);
    sids.add(s.Sid);
    if (s.Effect !== 'Allow' && s.Effect !== 'Deny')
      problems.push(`${at}: Effect must be Allow or Deny`);
    const actions = [s.Action].flat();
    if (actions.length === 0) problems.push(`${at}: no Action`);
    for (const a of actions) if (!ACTION.test(a)) problems.push(`${at}: bad action ${a}`);
    if (kind === 'identity') {
      if (s.Principal) problems.push(`${at}: an identity policy has no Principal`);
      const resources = s.Resource === undefined ? [] : [s.Resource].flat();
      if (resources.length === 0) problems.push(`${at}: no Resource`);
      for (const r of resources)
        if (r !== '*' && !ARN.test(r)) problems.push(`${at}: bad ARN ${r}`);
    } else {
      if (!s.Principal) problems.push(`${at}: a trust policy needs a Principal`);
      if (s.Resource !== undefined) problems.push(`${at}: a trust policy has no Resource`);
    }
    for (const [op, keys] of Object.entries(s.Condition ?? {})) {
      if (!/^((ForAnyValue|ForAllValues):)?[A-Za-z]+(IfExists)?$/.test(op))
        problems.push(`${at}: bad condition operator ${op}`);
      for (const [key, value] of Object.entries(keys)) {
        if (!/^[a-z0-9-]+:[A-Za-z0-9-]+$/.test(key))
          problems.push(`${at}: bad condition key ${key}`);
        if ([value].flat().length === 0) problems.push(`${at}: condition ${key} has no value`);
      }
    }
  }
  // IAM counts characters without whitespace against the managed/inline policy quota.
  const size = JSON.stringify(doc).length;
  if (kind === 'identity' && size > MAX_IDENTITY_POLICY_CHARS) {
    problems.push(`the policy is ${size} characters; IAM allows ${MAX_IDENTITY_POLICY_CHARS}`);
  }
  return problems;
}
