import { cidrContains, cidrOverlaps, parseCidr } from './cidr.js';
import { iamPatterns } from './iam-pattern.js';
import type { ContextValue, RequestContext } from './request-context.js';
import {
  ALL,
  complement,
  has,
  intersection,
  isSubset,
  NONE,
  overlaps,
  type StringSet,
} from './string-set.js';

/** What a statement's `Condition` block says of the job's requests. */
export interface ConditionOutcome {
  /**
   * Values of the target key (e.g. `s3:prefix` for a listing) for which the block surely holds;
   * `ALL` when no condition names the target key, `NONE` when the block cannot hold.
   */
  sure: StringSet;
  /** Values of the target key for which it may hold (differs from `sure` where the check cannot tell). */
  maybe: StringSet;
  /** The conditions the check could not evaluate, as `Operator key`. */
  unknown: string[];
  /** The conditions that never hold for the job's requests, as `Operator key`. */
  failed: string[];
}

/** Options of {@link evaluateCondition}. */
export interface EvaluateConditionOptions {
  /** The key whose value varies across the job's requests (lower case), e.g. `s3:prefix`. */
  targetKey?: string | undefined;
  /** The policy's Version allows `${...}` variables (2012-10-17). */
  variables: boolean;
}

type Tri = 'yes' | 'no' | 'unknown';
type Family = 'string' | 'arn' | 'bool' | 'ip' | 'null' | 'other';

interface Operator {
  family: Family;
  negated: boolean;
  wildcards: boolean;
  ignoreCase: boolean;
  ifExists: boolean;
  qualifier: 'any' | 'all' | undefined;
}

const FAMILIES: Record<string, Omit<Operator, 'ifExists' | 'qualifier'>> = {
  stringequals: { family: 'string', negated: false, wildcards: false, ignoreCase: false },
  stringnotequals: { family: 'string', negated: true, wildcards: false, ignoreCase: false },
  stringequalsignorecase: { family: 'string', negated: false, wildcards: false, ignoreCase: true },
  stringnotequalsignorecase: {
    family: 'string',
    negated: true,
    wildcards: false,
    ignoreCase: true,
  },
  stringlike: { family: 'string', negated: false, wildcards: true, ignoreCase: false },
  stringnotlike: { family: 'string', negated: true, wildcards: true, ignoreCase: false },
  // ArnEquals and ArnLike both take wildcards.
  arnequals: { family: 'arn', negated: false, wildcards: true, ignoreCase: false },
  arnlike: { family: 'arn', negated: false, wildcards: true, ignoreCase: false },
  arnnotequals: { family: 'arn', negated: true, wildcards: true, ignoreCase: false },
  arnnotlike: { family: 'arn', negated: true, wildcards: true, ignoreCase: false },
  bool: { family: 'bool', negated: false, wildcards: false, ignoreCase: true },
  ipaddress: { family: 'ip', negated: false, wildcards: false, ignoreCase: false },
  notipaddress: { family: 'ip', negated: true, wildcards: false, ignoreCase: false },
  null: { family: 'null', negated: false, wildcards: false, ignoreCase: false },
};

/**
 * Evaluates a Condition block (operators ANDed, keys under an operator ANDed, values of a key
 * ORed) against what is known of the job's requests, following IAM: a key absent from the
 * request fails a matching operator and passes a negated one (`StringNot...`, `NotIpAddress`),
 * `...IfExists` passes on an absent key, `Null` tests presence, `ForAllValues` passes on an
 * absent key and `ForAnyValue` fails. What it cannot decide — an unknown key, a numeric or date
 * operator, a value holding a request-time variable — is reported, never taken as holding.
 */
export function evaluateCondition(
  condition: Record<string, Record<string, string[]>>,
  context: RequestContext,
  options: EvaluateConditionOptions,
): ConditionOutcome {
  const out: ConditionOutcome = { sure: ALL, maybe: ALL, unknown: [], failed: [] };
  for (const [opText, keys] of Object.entries(condition)) {
    const op = parseOperator(opText);
    for (const [key, values] of Object.entries(keys)) {
      const name = `${opText} ${key}`;
      if (options.targetKey !== undefined && key.toLowerCase() === options.targetKey) {
        const bounds = targetBounds(op, values, options.variables);
        if (!bounds) {
          out.sure = NONE;
          out.unknown.push(name);
          continue;
        }
        out.sure = intersection(out.sure, bounds.sure);
        out.maybe = intersection(out.maybe, bounds.maybe);
        if (bounds.unknown) out.unknown.push(name);
        continue;
      }
      const tri = evaluateKey(op, values, context.get(key.toLowerCase()), options.variables);
      if (tri === 'no') {
        out.sure = NONE;
        out.maybe = NONE;
        out.failed.push(name);
      } else if (tri === 'unknown') {
        out.sure = NONE;
        out.unknown.push(name);
      }
    }
  }
  return out;
}

function parseOperator(text: string): Operator | undefined {
  const m = /^(ForAnyValue:|ForAllValues:)?(.+?)(IfExists)?$/i.exec(text);
  if (!m) return undefined;
  const base = FAMILIES[m[2]!.toLowerCase()];
  const qualifier = m[1] === undefined ? undefined : /any/i.test(m[1]) ? 'any' : 'all';
  const ifExists = m[3] !== undefined;
  if (base) return { ...base, ifExists, qualifier };
  // Numeric, Date, Binary: never decided, but a negated one still passes on an absent key.
  return {
    family: 'other',
    negated: /^(Numeric|Date)NotEquals$/i.test(m[2]!),
    wildcards: false,
    ignoreCase: false,
    ifExists,
    qualifier,
  };
}

/** The values of the policy as a set of strings (with the bounds a request-time variable leaves). */
function valueSets(op: Operator, values: readonly string[], variables: boolean) {
  const texts = op.family === 'bool' ? values.map((v) => v.toLowerCase()) : values;
  return iamPatterns(texts, { wildcards: op.wildcards, variables, ignoreCase: op.ignoreCase });
}

/** For the key that varies: the values it holds for, as bounds; undefined when unknowable. */
function targetBounds(
  op: Operator | undefined,
  values: readonly string[],
  variables: boolean,
): { sure: StringSet; maybe: StringSet; unknown: boolean } | undefined {
  if (!op) return undefined;
  if (op.family === 'null') {
    // The target key is always present in the requests it varies in.
    const holds = values.every((v) => v.toLowerCase() === 'false');
    return { sure: holds ? ALL : NONE, maybe: holds ? ALL : NONE, unknown: false };
  }
  if (op.family !== 'string' && op.family !== 'arn' && op.family !== 'bool') return undefined;
  const m = valueSets(op, values, variables);
  const unknown = m.variables.length > 0;
  return op.negated
    ? { sure: complement(m.over), maybe: complement(m.under), unknown }
    : { sure: m.under, maybe: m.over, unknown };
}

/** For a key with one known state across the job's requests: does the condition hold? */
function evaluateKey(
  op: Operator | undefined,
  values: readonly string[],
  value: ContextValue | undefined,
  variables: boolean,
): Tri {
  if (!op || value === undefined) return 'unknown';
  if (op.family === 'null') {
    const wantsAbsent = values.map((v) => v.toLowerCase());
    if (wantsAbsent.some((v) => v !== 'true' && v !== 'false')) return 'unknown';
    const absent = value.kind === 'absent';
    return wantsAbsent.some((v) => (v === 'true') === absent) ? 'yes' : 'no';
  }
  if (value.kind === 'absent') {
    if (op.ifExists || op.qualifier === 'all' || op.negated) return 'yes';
    return 'no';
  }
  const flip = (t: Tri): Tri => (!op.negated || t === 'unknown' ? t : t === 'yes' ? 'no' : 'yes');
  if (op.family === 'ip') {
    if (value.kind !== 'ip') return 'unknown';
    const ranges = values.map(parseCidr);
    if (ranges.some((r) => r === undefined)) return 'unknown';
    const policy = ranges as NonNullable<(typeof ranges)[number]>[];
    if (value.ranges.every((r) => policy.some((p) => cidrContains(p, r)))) return flip('yes');
    if (!value.ranges.some((r) => policy.some((p) => cidrOverlaps(p, r)))) return flip('no');
    return 'unknown';
  }
  if (op.family === 'other') return 'unknown';
  const m = valueSets(op, values, variables);
  if (value.kind === 'one') {
    if (isSubset(value.set, m.under)) return flip('yes');
    if (!overlaps(value.set, m.over)) return flip('no');
    return 'unknown';
  }
  if (value.kind === 'contains' && op.qualifier === 'any' && !op.negated) {
    return value.values.some((v) => has(m.under, v)) ? 'yes' : 'unknown';
  }
  return 'unknown';
}
