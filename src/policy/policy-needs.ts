import type { Permission } from '../jobs/permissions.js';
import { iamPattern } from './iam-pattern.js';
import type { ContextValue } from './request-context.js';
import { PREFIX_CONDITION_ACTIONS, s3ActionScope } from './s3-action-scope.js';
import { literalSet, prefixSet, type StringSet, union } from './string-set.js';

/** A permission labelled with the job config it came from (several share a role). */
export type SourcedPermission = Permission & { from?: string | undefined };

/**
 * One permission the job needs, as requests `policy --check` evaluates: an action, the part of
 * the request that varies (which key under the prefix, which `s3:prefix` a listing sends) as a
 * set of strings, and the condition keys known for every such request.
 */
export interface Need {
  action: string;
  /** `s3`, `kms`, ... */
  service: string;
  /** The request part that varies, and its values. */
  target: {
    /** `resource` (the ARN) or a condition key, lower case (`s3:prefix`). */
    key: string;
    set: StringSet;
    /**
     * True: the job sends every value of `set` (all keys under a prefix), so each must be allowed.
     * False: the job sends one value of `set` that the check cannot know (a KMS key given by alias).
     */
    every: boolean;
  };
  /** The resource ARN, when the target is a condition key. */
  resource?: string | undefined;
  /** As reports show it: the resource pattern, and the listed prefix. */
  shown: { resource: string; prefix?: string | undefined };
  /** Condition keys the requests carry whatever the network (lower case). */
  context: Array<[string, ContextValue]>;
  bucket?: string | undefined;
  /** Why the job needs it (one per permission merged here). */
  reasons: string[];
  /** The job configs that need it, when labelled. */
  from: string[];
}

/**
 * The permissions of one or several jobs as requests to evaluate, one per distinct action,
 * bucket, prefix and resource (reasons merged), in first-seen order:
 * - object actions: every key under `bucket/prefix`;
 * - `s3:ListBucket(Versions)`: the bucket, with every `s3:prefix` starting with the prefix (S3
 *   also evaluates a HeadObject of a missing key as a listing of that key);
 * - other bucket and account actions: the bucket ARN (`*` for the account);
 * - other services: the declared resource (a wildcard one stands for one unknown resource), with
 *   the declared condition's values known to the request (`kms:ResourceAliases`), and the keys of
 *   a request S3 makes on the task's behalf (SSE-KMS).
 */
export function buildNeeds(permissions: readonly SourcedPermission[]): Need[] {
  const needs = new Map<string, Need>();
  for (const p of permissions) {
    const id = JSON.stringify([p.action, p.bucket, p.prefix ?? '', p.resource, p.condition]);
    const seen = needs.get(id);
    if (seen) {
      if (!seen.reasons.includes(p.reason)) seen.reasons.push(p.reason);
      if (p.from !== undefined && !seen.from.includes(p.from)) seen.from.push(p.from);
      continue;
    }
    needs.set(id, {
      ...needOf(p),
      reasons: [p.reason],
      from: p.from === undefined ? [] : [p.from],
    });
  }
  return [...needs.values()];
}

function needOf(p: Permission): Omit<Need, 'reasons' | 'from'> {
  const [service = ''] = p.action.split(':');
  if (service !== 's3') return otherServiceNeed(p, service);
  const prefix = p.prefix ?? '';
  const bucketArn = `arn:aws:s3:::${p.bucket ?? ''}`;
  const noPrefixKey: Array<[string, ContextValue]> = [['s3:prefix', { kind: 'absent' }]];
  const scope = s3ActionScope(p.action);
  if (scope === 'object') {
    return {
      action: p.action,
      service,
      bucket: p.bucket,
      target: { key: 'resource', set: prefixSet(`${bucketArn}/${prefix}`), every: true },
      shown: { resource: `${bucketArn}/${prefix}*` },
      context: noPrefixKey,
    };
  }
  if (scope === 'bucket' && PREFIX_CONDITION_ACTIONS.has(p.action)) {
    return {
      action: p.action,
      service,
      bucket: p.bucket,
      target: { key: 's3:prefix', set: prefixSet(prefix), every: true },
      resource: bucketArn,
      shown: { resource: bucketArn, prefix: `${prefix}*` },
      context: [],
    };
  }
  // Account actions (s3:ListAllMyBuckets) take the resource "*".
  const resource = scope === 'account' ? '*' : bucketArn;
  return {
    action: p.action,
    service,
    bucket: p.bucket,
    target: { key: 'resource', set: literalSet(resource), every: true },
    shown: { resource },
    context: noPrefixKey,
  };
}

/** `kms:ViaService` of a call S3 makes: `s3.<region>.amazonaws.com`. */
const S3_SERVICE_ENDPOINTS = iamPattern('s3.*.amazonaws.com', {
  wildcards: true,
  variables: false,
}).over;

/**
 * KMS and other services. The KMS calls of SSE-KMS are made by S3 on the task's behalf (forward
 * access sessions): they carry `aws:ViaAWSService` true and `kms:ViaService` `s3.<region>...`,
 * and none of the network keys.
 */
function otherServiceNeed(p: Permission, service: string): Omit<Need, 'reasons' | 'from'> {
  const resource = p.resource ?? '*';
  const pattern = iamPattern(resource, { wildcards: true, variables: false });
  const context: Array<[string, ContextValue]> = [];
  for (const [op, keys] of Object.entries(p.condition ?? {})) {
    for (const [key, value] of Object.entries(keys)) {
      const values = [value].flat();
      context.push([
        key.toLowerCase(),
        op.startsWith('ForAnyValue:')
          ? { kind: 'contains', values }
          : { kind: 'one', set: union(...values.map((v) => literalSet(v))) },
      ]);
    }
  }
  if (service === 'kms') {
    context.push(
      ['aws:viaawsservice', { kind: 'one', set: literalSet('true') }],
      ['kms:viaservice', { kind: 'one', set: S3_SERVICE_ENDPOINTS }],
      ['aws:securetransport', { kind: 'one', set: literalSet('true') }],
      ['aws:sourcevpce', { kind: 'absent' }],
      ['aws:sourcevpc', { kind: 'absent' }],
      ['aws:sourceip', { kind: 'absent' }],
    );
  }
  return {
    action: p.action,
    service,
    target: { key: 'resource', set: pattern.over, every: !/[*?]/.test(resource) },
    shown: { resource },
    context,
  };
}
