import { actionAccess, DELETE_ACTIONS, exampleActions, S3_WRITE_ACTIONS } from './action-access.js';
import { evaluateCondition } from './evaluate-condition.js';
import { iamPattern } from './iam-pattern.js';
import type { PreparedStatement } from './match-statement.js';
import type { Need } from './policy-needs.js';
import { requestContext } from './request-context.js';
import { s3ActionScope } from './s3-action-scope.js';
import {
  ALL,
  complement,
  findMember,
  has,
  intersection,
  isEmpty,
  isSubset,
  literalSet,
  overlaps,
  prefixSet,
  type StringSet,
  StringSetTooComplexError,
  union,
} from './string-set.js';

/**
 * What a statement can grant beyond the job's needs, each with what it means; docs/policy.md
 * has a row for each (a test checks).
 */
export const FINDING_KINDS = {
  'all-actions': '`*` or `s3:*`: every action of the service',
  'not-action': 'an Allow with `NotAction`: every action but a few',
  delete: 'Delete actions the job never uses',
  'write-where-read': 'write actions on resources where the job only reads',
  'unused-write': 'write actions the job never uses, on resources it does not read either',
  'unused-action': 'other actions the job never uses',
  'any-resource': 'a needed action on `Resource: "*"` or through `NotResource`',
  'other-bucket': 'a needed action on buckets the job does not use',
  'wider-prefix': "a needed action on keys of the job's buckets outside its prefixes",
  'other-resource': 'a needed non-S3 action (KMS) on other resources',
  'list-beyond-prefix': 'a listing allowed for `s3:prefix` values the job never sends',
  network: 'allowed from a network the `--source-*` options exclude',
  'insecure-transport':
    'allowed over plain HTTP although `--deny-insecure-transport` was asked for',
  'too-intricate': 'too intricate to analyse; to review by hand',
} as const;

/** What a statement grants beyond the job's needs (see {@link FINDING_KINDS}). */
export type FindingKind = keyof typeof FINDING_KINDS;

/** One thing a statement grants beyond the job's needs. */
export interface Finding {
  kind: FindingKind;
  /** The actions concerned, as the statement writes them. */
  actions: string[];
  /** A sentence for people. */
  text: string;
  /** An example string the grant covers and the job does not need (a resource ARN, a prefix). */
  example?: string | undefined;
}

/**
 * What an Allow statement grants beyond `needs`, judged on its actions, resources and (for
 * listings) its `s3:prefix` condition; other conditions only narrow a grant and are left aside.
 * A Deny without conditions that covers the excess removes it.
 */
export function statementBreadth(
  statement: PreparedStatement,
  needs: readonly Need[],
  all: readonly PreparedStatement[],
): Finding[] {
  const denies = all.filter(
    (p) => p.statement.effect === 'Deny' && Object.keys(p.statement.condition).length === 0,
  );
  try {
    const findings = [
      ...actionFindings(statement, needs, denies),
      ...resourceFindings(statement, needs, denies),
      ...listFindings(statement, needs),
    ];
    const conditional = Object.values(statement.statement.condition).some((keys) =>
      Object.keys(keys).some((k) => k.toLowerCase() !== 's3:prefix'),
    );
    if (conditional) for (const f of findings) f.text += ' (when its conditions hold)';
    return findings;
  } catch (err) {
    if (!(err instanceof StringSetTooComplexError)) throw err;
    return [
      {
        kind: 'too-intricate',
        actions: statement.statement.action.values,
        text: 'too intricate to analyse: review it by hand',
      },
    ];
  }
}

const lower = (s: string) => s.toLowerCase();

/** Actions granted that no need uses. */
function actionFindings(
  st: PreparedStatement,
  needs: readonly Need[],
  denies: readonly PreparedStatement[],
): Finding[] {
  const needed = union(...unique(needs.map((n) => lower(n.action))).map((a) => literalSet(a)));
  const removed = union(
    ...denies.filter((d) => isSubset(st.resources.over, d.resources.under)).map((d) => d.actions),
  );
  const extra = intersection(st.actions, complement(needed), complement(removed));
  if (isEmpty(extra)) return [];
  const { action } = st.statement;
  const examples = (set: StringSet) => {
    const names = exampleActions(set);
    return names.length > 0 ? `, among them ${names.join(', ')}` : '';
  };
  if (action.not) {
    return [
      {
        kind: 'not-action',
        actions: action.values,
        text: `NotAction ${action.values.join(', ')} allows every other action${examples(extra)}`,
      },
    ];
  }
  const everything = action.values.filter((v) => v === '*' || lower(v) === 's3:*');
  if (everything.length > 0) {
    return [
      {
        kind: 'all-actions',
        actions: everything,
        text: `${everything.join(', ')} allows every ${everything.includes('*') ? '' : 'S3 '}action${examples(extra)}`,
      },
    ];
  }
  const named = (set: StringSet) =>
    action.values.filter((v) =>
      overlaps(iamPattern(lower(v), { wildcards: true, variables: false }).over, set),
    );
  const describe = (set: StringSet) => {
    const names = named(set);
    const wild = names.some((n) => /[*?]/.test(n));
    return { names, shown: `${names.join(', ')}${wild ? examples(set) : ''}` };
  };
  const out: Finding[] = [];
  const deletes = intersection(extra, DELETE_ACTIONS);
  if (!isEmpty(deletes)) {
    const d = describe(deletes);
    out.push({
      kind: 'delete',
      actions: d.names,
      text: `${d.shown}: Delete actions the job never uses`,
    });
  }
  const writes = intersection(extra, S3_WRITE_ACTIONS);
  if (!isEmpty(writes)) {
    const w = describe(writes);
    const here = needsOn(st, needs);
    const onlyReads = here.length > 0 && here.every((n) => actionAccess(n.action) === 'read');
    out.push(
      onlyReads
        ? {
            kind: 'write-where-read',
            actions: w.names,
            text: `${w.shown}: writes where the job only reads`,
          }
        : {
            kind: 'unused-write',
            actions: w.names,
            text: `${w.shown}: write actions the job does not use`,
          },
    );
  }
  const others = intersection(extra, complement(DELETE_ACTIONS), complement(S3_WRITE_ACTIONS));
  if (!isEmpty(others)) {
    const o = describe(others);
    out.push({
      kind: 'unused-action',
      actions: o.names,
      text: `${o.shown}: actions the job does not use`,
    });
  }
  return out;
}

/** Needed actions granted on more resources than the job uses them on. */
function resourceFindings(
  st: PreparedStatement,
  needs: readonly Need[],
  denies: readonly PreparedStatement[],
): Finding[] {
  const { resource } = st.statement;
  const jobSpace = union(
    ...unique(needs.flatMap((n) => (n.bucket ? [n.bucket] : []))).flatMap((b) => [
      literalSet(`arn:aws:s3:::${b}`),
      prefixSet(`arn:aws:s3:::${b}/`),
    ]),
  );
  const reads = union(...needs.filter((n) => actionAccess(n.action) === 'read').map(resourcesOf));
  // Per kind: the actions and their excess, described once all actions are seen.
  const found = new Map<
    FindingKind,
    { actions: string[]; excess: StringSet[]; text: (a: string, on: string) => string }
  >();
  const add = (
    kind: FindingKind,
    action: string,
    excess: StringSet,
    text: (a: string, on: string) => string,
  ) => {
    const seen = found.get(kind) ?? { actions: [], excess: [], text };
    seen.actions.push(action);
    seen.excess.push(excess);
    found.set(kind, seen);
  };
  for (const action of unique(needs.map((n) => n.action))) {
    if (!has(st.actions, lower(action))) continue;
    const forAction = needs.filter((n) => n.action === action);
    const denied = union(
      ...denies
        .filter(
          (d) => has(d.actions, lower(action)) && overlaps(d.resources.under, st.resources.over),
        )
        .map((d) => d.resources.under),
    );
    const excess = intersection(
      st.resources.over,
      resourceKind(action),
      complement(union(...forAction.map(resourcesOf))),
      complement(denied),
    );
    if (isEmpty(excess)) continue;
    if (resource.not || resource.values.includes('*')) {
      add('any-resource', action, excess, (a) =>
        resource.not
          ? `${a} on every resource but NotResource ${resource.values.join(', ')}`
          : `${a} on every resource (Resource "*")`,
      );
      continue;
    }
    if (!action.toLowerCase().startsWith('s3:')) {
      add(
        'other-resource',
        action,
        excess,
        (a, on) => `${a} on ${on}: resources the job does not use`,
      );
      continue;
    }
    const other = intersection(excess, complement(jobSpace));
    if (!isEmpty(other))
      add('other-bucket', action, other, (a, on) => `${a} on ${on}: buckets the job does not use`);
    const same = intersection(excess, jobSpace);
    if (isEmpty(same)) continue;
    const writtenWhereRead = intersection(same, reads);
    if (actionAccess(action) !== 'read' && !isEmpty(writtenWhereRead)) {
      add(
        'write-where-read',
        action,
        writtenWhereRead,
        (a, on) => `${a} on ${on}: writes where the job only reads`,
      );
    } else {
      add(
        'wider-prefix',
        action,
        same,
        (a, on) => `${a} on ${on}: keys outside the job's prefixes`,
      );
    }
  }
  const patterns = resource.values.map((v) => ({ v, set: resourcePattern(st, v) }));
  return [...found].map(([kind, { actions, excess, text }]) => {
    const all = union(...excess);
    const on = patterns.filter((p) => overlaps(p.set, all)).map((p) => p.v);
    return {
      kind,
      actions,
      text: text(actions.join(', '), on.join(', ')),
      example: findMember(all),
    };
  });
}

/** Listings allowed for `s3:prefix` values the job never sends. */
function listFindings(st: PreparedStatement, needs: readonly Need[]): Finding[] {
  const out: Finding[] = [];
  const listings = needs.filter((n) => n.target.key === 's3:prefix');
  const prefixCondition: Record<string, Record<string, string[]>> = {};
  for (const [op, keys] of Object.entries(st.statement.condition)) {
    for (const [key, values] of Object.entries(keys)) {
      if (key.toLowerCase() === 's3:prefix')
        prefixCondition[op] = { ...prefixCondition[op], [key]: values };
    }
  }
  const allowed = evaluateCondition(prefixCondition, requestContext(), {
    targetKey: 's3:prefix',
    variables: st.variables,
  }).maybe;
  const groups = new Map<string, Need[]>();
  for (const n of listings) {
    if (!has(st.actions, lower(n.action)) || !has(st.resources.over, n.resource ?? '')) continue;
    const key = `${n.action} ${n.resource}`;
    groups.set(key, [...(groups.get(key) ?? []), n]);
  }
  for (const group of groups.values()) {
    const first = group[0]!;
    const beyond = findMember(
      intersection(allowed, complement(union(...group.map((n) => n.target.set)))),
    );
    if (beyond === undefined) continue;
    const condition = Object.keys(prefixCondition).length > 0;
    out.push({
      kind: 'list-beyond-prefix',
      actions: [first.action],
      example: beyond,
      text: `${first.action} on ${first.resource} ${condition ? 'lists' : 'has no s3:prefix condition: it lists'} more than ${group.map((n) => `s3:prefix ${n.shown.prefix}`).join(', ')}, e.g. ${beyond === '' ? 'the whole bucket' : `s3:prefix "${beyond}"`}`,
    });
  }
  return out;
}

const S3_OBJECTS = iamPattern('arn:aws:s3:::*/*', { wildcards: true, variables: false }).over;
const S3_BUCKETS = intersection(
  iamPattern('arn:aws:s3:::*', { wildcards: true, variables: false }).over,
  complement(S3_OBJECTS),
);

/**
 * The resources an action can act on: an S3 object action grants nothing on a bucket ARN, nor a
 * bucket action on an object ARN, so a statement naming both for both is not broader for it.
 */
function resourceKind(action: string): StringSet {
  if (!lower(action).startsWith('s3:')) return ALL;
  const scope = s3ActionScope(action);
  return scope === 'object' ? S3_OBJECTS : scope === 'bucket' ? S3_BUCKETS : ALL;
}

/** Statements' resource text read as the statement reads it (variables, wildcards). */
function resourcePattern(st: PreparedStatement, text: string): StringSet {
  return iamPattern(text, { wildcards: true, variables: st.variables }).over;
}

/** The resource ARNs a need's requests name. */
function resourcesOf(need: Need): StringSet {
  return need.target.key === 'resource' ? need.target.set : literalSet(need.resource ?? '');
}

/** The needs whose requests name a resource the statement covers. */
function needsOn(st: PreparedStatement, needs: readonly Need[]): Need[] {
  return needs.filter((n) => overlaps(resourcesOf(n), st.resources.over));
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
