import { evaluateCondition } from './evaluate-condition.js';
import { iamPatterns } from './iam-pattern.js';
import type { Need } from './policy-needs.js';
import type { ReviewedStatement } from './read-policy-input.js';
import type { RequestContext } from './request-context.js';
import { complement, has, intersection, NONE, type StringSet } from './string-set.js';

/** A reviewed statement with its actions and resources read as sets of strings. */
export interface PreparedStatement {
  statement: ReviewedStatement;
  /** How reports name it. */
  label: string;
  /** The actions it applies to, lower case (IAM compares actions without case). */
  actions: StringSet;
  /** The resources it may apply to, and surely applies to (they differ around request-time variables). */
  resources: { over: StringSet; under: StringSet };
  /** The policy's Version allows `${...}` variables. */
  variables: boolean;
}

/** Reads a statement's `Action`/`NotAction` and `Resource`/`NotResource` once. */
export function prepareStatement(
  statement: ReviewedStatement,
  label: string,
  variables: boolean,
): PreparedStatement {
  const actionSet = iamPatterns(
    statement.action.values.map((a) => a.toLowerCase()),
    { wildcards: true, variables: false },
  ).over;
  const r = iamPatterns(statement.resource.values, { wildcards: true, variables });
  return {
    statement,
    label,
    actions: statement.action.not ? complement(actionSet) : actionSet,
    resources: statement.resource.not
      ? { over: complement(r.under), under: complement(r.over) }
      : { over: r.over, under: r.under },
    variables,
  };
}

/** What one statement says of one need's requests. */
export interface StatementMatch {
  /** The statement names the action. */
  action: boolean;
  /** Values of the need's target the statement surely applies to. */
  sure: StringSet;
  /** Values it may apply to. */
  maybe: StringSet;
  /** What could not be evaluated (`StringEquals aws:PrincipalTag/team`, a request-time variable). */
  unknown: string[];
  /** Conditions that never hold for these requests. */
  failed: string[];
}

/** Where `statement` applies among `need`'s requests, given what `context` knows of them. */
export function matchStatement(
  prepared: PreparedStatement,
  need: Need,
  context: RequestContext,
): StatementMatch {
  if (!has(prepared.actions, need.action.toLowerCase())) {
    return { action: false, sure: NONE, maybe: NONE, unknown: [], failed: [] };
  }
  const target = need.target.key === 'resource' ? undefined : need.target.key;
  const cond = evaluateCondition(prepared.statement.condition, context, {
    targetKey: target,
    variables: prepared.variables,
  });
  const { over, under } = prepared.resources;
  if (target === undefined) {
    return {
      action: true,
      sure: intersection(cond.sure, under),
      maybe: intersection(cond.maybe, over),
      unknown: cond.unknown,
      failed: cond.failed,
    };
  }
  const resource = need.resource ?? '';
  if (has(under, resource)) return { action: true, ...cond };
  if (has(over, resource)) {
    return { ...cond, action: true, sure: NONE, unknown: [...cond.unknown, 'Resource variable'] };
  }
  return { action: true, sure: NONE, maybe: NONE, unknown: [], failed: ['Resource'] };
}
