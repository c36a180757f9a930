import { S3WorkerError } from '../errors.js';
import type { Permission } from '../jobs/permissions.js';
import {
  checkNetworkConditions,
  type NetworkConditions,
  networkCondition,
} from './network-conditions.js';
import {
  IAM_POLICY_VERSION,
  type PolicyCondition,
  type PolicyDocument,
  type PolicyStatement,
} from './policy-document.js';
import { PREFIX_CONDITION_ACTIONS, s3ActionScope } from './s3-action-scope.js';

/** Options of {@link buildPolicy}. */
export interface BuildPolicyOptions {
  /**
   * Add a `Deny` of every S3 action on the job's buckets when `aws:SecureTransport` is false, so
   * the credentials are useless over plain HTTP. Default false: a local MinIO over `http://`
   * would then refuse everything.
   */
  denyInsecureTransport?: boolean;
  /**
   * Where the task's S3 requests come from: every S3 Allow statement gets the matching
   * `aws:SourceVpce` / `aws:SourceVpc` / `aws:SourceIp` condition (KMS statements none: S3 calls
   * KMS on the task's behalf without these keys). Default none: allowed from any network.
   */
  network?: NetworkConditions;
}

interface Group {
  kind: string;
  /** An S3 statement (gets the network condition). */
  s3: boolean;
  actions: Set<string>;
  resource: string;
  condition?: PolicyCondition | undefined;
  /** For listing statements: the `s3:prefix` values allowed; `undefined` = the whole bucket. */
  prefixes?: Set<string> | undefined;
}

/**
 * The least-privilege IAM identity policy for a list of permissions (what a job's
 * `permissions()` returns): object actions only on `arn:aws:s3:::bucket/prefix*`, `s3:ListBucket`
 * on the bucket with an `s3:prefix` condition, other bucket actions on the bucket, non-S3 actions
 * (KMS) on the resource ARN each declares. Statements are grouped by resource, in the order the
 * permissions first name them, with Sids numbered per kind (`List1`, `Objects1`, `Objects2`,
 * `Bucket1`, `Kms1`), so the same permissions always give the same document.
 *
 * @throws S3WorkerError `POLICY_PERMISSION_INVALID` when a permission lacks the bucket or
 *   resource its action needs (a bug in the job's `permissions()`).
 * @throws ConfigError when a network condition is malformed or they contradict each other.
 */
export function buildPolicy(
  permissions: readonly Permission[],
  options: BuildPolicyOptions = {},
): PolicyDocument {
  const network = networkCondition(checkNetworkConditions(options.network));
  const groups = new Map<string, Group>();
  const buckets = new Set<string>();
  const group = (key: string, init: () => Group): Group => {
    let g = groups.get(key);
    if (!g) {
      g = init();
      groups.set(key, g);
    }
    return g;
  };

  for (const p of permissions) {
    const [service] = p.action.split(':');
    if (service !== 's3') {
      const resource = required(p, 'resource');
      const condition = p.condition;
      group(`${service}|${resource}|${JSON.stringify(condition ?? null)}`, () => ({
        kind: pascal(service ?? 'Other'),
        s3: false,
        actions: new Set(),
        resource,
        condition,
      })).actions.add(p.action);
      continue;
    }
    const scope = s3ActionScope(p.action);
    if (scope === 'account') {
      group('account', () => ({
        kind: 'Account',
        s3: true,
        actions: new Set(),
        resource: '*',
      })).actions.add(p.action);
      continue;
    }
    const bucket = checkBucket(p, required(p, 'bucket'));
    buckets.add(bucket);
    const prefix = p.prefix ?? '';
    if (scope === 'object') {
      const resource = `arn:aws:s3:::${bucket}/${escapeWildcards(prefix)}*`;
      group(`object|${resource}`, () => ({
        kind: 'Objects',
        s3: true,
        actions: new Set(),
        resource,
      })).actions.add(p.action);
    } else if (PREFIX_CONDITION_ACTIONS.has(p.action)) {
      const g = group(`list|${bucket}`, () => ({
        kind: 'List',
        s3: true,
        actions: new Set(),
        resource: `arn:aws:s3:::${bucket}`,
        prefixes: new Set(),
      }));
      g.actions.add(p.action);
      if (prefix === '') g.prefixes = undefined;
      else g.prefixes?.add(prefix);
    } else {
      group(`bucket|${bucket}`, () => ({
        kind: 'Bucket',
        s3: true,
        actions: new Set(),
        resource: `arn:aws:s3:::${bucket}`,
      })).actions.add(p.action);
    }
  }

  const counters = new Map<string, number>();
  const statements: PolicyStatement[] = [...groups.values()].map((g) => {
    const n = (counters.get(g.kind) ?? 0) + 1;
    counters.set(g.kind, n);
    const statement: PolicyStatement = {
      Sid: `${g.kind}${n}`,
      Effect: 'Allow',
      Action: [...g.actions].sort(),
      Resource: [g.resource],
    };
    const condition = mergeConditions(
      g.condition ?? listCondition(g.prefixes),
      g.s3 ? network : undefined,
    );
    if (condition) statement.Condition = condition;
    return statement;
  });

  if (options.denyInsecureTransport) {
    statements.push({
      Sid: 'DenyInsecureTransport',
      Effect: 'Deny',
      Action: ['s3:*'],
      Resource:
        buckets.size === 0
          ? ['*']
          : [...buckets].flatMap((b) => [`arn:aws:s3:::${b}`, `arn:aws:s3:::${b}/*`]),
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
  }
  return { Version: IAM_POLICY_VERSION, Statement: statements };
}

/**
 * `prefix*` lets the job list everything under its prefix; the bare prefix is listed too so a
 * delimiter listing of exactly the prefix reads plainly in the policy (`*` also matches empty).
 */
function listCondition(prefixes: Set<string> | undefined): PolicyCondition | undefined {
  if (!prefixes || prefixes.size === 0) return undefined;
  const values = new Set<string>();
  for (const p of prefixes) {
    values.add(`${escapeWildcards(p)}*`);
    values.add(escapeWildcards(p));
  }
  return { StringLike: { 's3:prefix': [...values] } };
}

/** Both blocks at once (IAM ANDs the operators of a block, and the keys under one operator). */
function mergeConditions(
  a: PolicyCondition | undefined,
  b: PolicyCondition | undefined,
): PolicyCondition | undefined {
  if (!a || !b) return a ?? b;
  const merged: PolicyCondition = structuredClone(a);
  for (const [op, keys] of Object.entries(b)) merged[op] = { ...merged[op], ...keys };
  return merged;
}

/**
 * IAM treats `*` and `?` in ARNs and `StringLike` values as wildcards, and `${...}` as a policy
 * variable: a key prefix holding them would widen the grant. The policy variables `${*}`, `${?}`
 * and `${$}` stand for the literal characters.
 */
export function escapeWildcards(value: string): string {
  return value.replace(/[*?$]/g, (c) => `\${${c}}`);
}

function required(p: Permission, field: 'bucket' | 'resource'): string {
  const value = p[field];
  if (value === undefined || value === '') {
    throw new S3WorkerError(`permission ${p.action} (${p.reason}) names no ${field}`, {
      code: 'POLICY_PERMISSION_INVALID',
      context: { action: p.action, field },
      hint:
        field === 'bucket'
          ? "the job's permissions() must give a bucket for every s3 action"
          : "the job's permissions() must give a resource ARN for every non-S3 action",
    });
  }
  return value;
}

function checkBucket(p: Permission, bucket: string): string {
  if (/[/*?$\s]/.test(bucket)) {
    throw new S3WorkerError(`permission ${p.action} names an invalid bucket: ${bucket}`, {
      code: 'POLICY_PERMISSION_INVALID',
      context: { action: p.action, bucket, field: 'bucket' },
      hint: 'give the bucket name alone (no key, wildcard or spaces); the prefix goes in `prefix`',
    });
  }
  return bucket;
}

function pascal(service: string): string {
  return service
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
}
