import {
  matchStatement,
  type PreparedStatement,
  prepareStatement,
  type StatementMatch,
} from './match-statement.js';
import { checkNetworkConditions, type NetworkConditions } from './network-conditions.js';
import { type PolicyCheckExitCodeValue, policyCheckExitCode } from './policy-check-exit-code.js';
import { buildNeeds, type Need, type SourcedPermission } from './policy-needs.js';
import type { ReviewedPolicy } from './read-policy-input.js';
import { type ContextValue, requestContext } from './request-context.js';
import { outsideSituations, type RequestSituation, taskSituation } from './request-situations.js';
import { type Finding, statementBreadth } from './statement-breadth.js';
import {
  complement,
  findMember,
  has,
  intersection,
  isSubset,
  overlaps,
  type StringSet,
  StringSetTooComplexError,
  union,
} from './string-set.js';

/** Options of {@link checkPolicy}: the same as the generated policy's. */
export interface PolicyCheckOptions {
  /** Where the task's S3 requests come from; the policy should refuse any other network. */
  network?: NetworkConditions | undefined;
  /** The policy should refuse S3 over plain HTTP. */
  denyInsecureTransport?: boolean | undefined;
}

/** Whether a needed permission is granted. */
export type NeedVerdict = 'granted' | 'missing' | 'cannot-tell';

/** One needed permission and its verdict. */
export interface NeedReport {
  action: string;
  resource: string;
  /** For listings: the `s3:prefix` values the job sends (`raw/*`). */
  prefix?: string | undefined;
  reasons: string[];
  /** The job configs that need it (several share the role). */
  from: string[];
  verdict: NeedVerdict;
  /** The statements that grant it. */
  grantedBy: string[];
  /** Why it is missing or cannot be told, naming the statements and an example request. */
  detail?: string | undefined;
}

/** One statement and what it grants beyond the job's needs. */
export interface StatementReport {
  statement: string;
  source: string;
  index: number;
  effect: 'Allow' | 'Deny';
  findings: Finding[];
}

/** The verdict on the whole policy, worst first: missing, cannot tell, broader, fits. */
export type PolicyVerdict = 'fits' | 'broader' | 'cannot-tell' | 'missing';

/** What `s3worker policy --check` found. */
export interface PolicyCheckReport {
  verdict: PolicyVerdict;
  exitCode: PolicyCheckExitCodeValue;
  needs: NeedReport[];
  statements: StatementReport[];
  /** What the check took as given about the job's requests. */
  assumptions: string[];
}

export type { Finding, FindingKind } from './statement-breadth.js';

/**
 * Reviews an identity policy (one or several documents attached to the same role) against the
 * permissions of one or several jobs: per need, whether the policy grants every request the job
 * makes for it (Allow and Deny, wildcards, `NotAction`/`NotResource`, the condition keys
 * s3worker generates), and per statement, what it grants beyond the needs. Conditions it cannot
 * evaluate make a need "cannot tell", never granted. Pure: no I/O, nothing sent to AWS.
 *
 * @throws ConfigError when the network conditions are malformed.
 */
export function checkPolicy(
  permissions: readonly SourcedPermission[],
  policies: readonly ReviewedPolicy[],
  options: PolicyCheckOptions = {},
): PolicyCheckReport {
  const network = checkNetworkConditions(options.network);
  const needs = buildNeeds(permissions);
  const several = policies.length > 1;
  const prepared = policies.flatMap((policy) =>
    policy.statements.map((s) =>
      prepareStatement(
        s,
        several ? `${policy.source}:${s.label}` : s.label,
        policy.version === '2012-10-17',
      ),
    ),
  );
  const task = taskSituation(network);
  const situations = outsideSituations(network, options.denyInsecureTransport === true);

  const findings = new Map<PreparedStatement, Finding[]>(prepared.map((p) => [p, []]));
  // One finding per statement and situation, its actions merged across needs.
  const merged = new Map<PreparedStatement, Map<string, Finding>>();
  const needReports = needs.map((need): NeedReport => {
    const judged = judge(need, prepared, need.service === 's3' ? task : []);
    if (judged.verdict === 'granted' && need.service === 's3') {
      for (const situation of situations) {
        addSituationFindings(need, prepared, situation, findings, merged);
      }
    }
    return {
      action: need.action,
      resource: need.shown.resource,
      prefix: need.shown.prefix,
      reasons: need.reasons,
      from: need.from,
      ...judged,
    };
  });
  for (const p of prepared) {
    if (p.statement.effect !== 'Allow') continue;
    findings.get(p)!.unshift(...statementBreadth(p, needs, prepared));
  }
  const statements = prepared.map(
    (p): StatementReport => ({
      statement: p.label,
      source: p.statement.source,
      index: p.statement.index,
      effect: p.statement.effect,
      findings: findings.get(p)!,
    }),
  );
  const verdict: PolicyVerdict = needReports.some((n) => n.verdict === 'missing')
    ? 'missing'
    : needReports.some((n) => n.verdict === 'cannot-tell')
      ? 'cannot-tell'
      : statements.some((s) => s.findings.length > 0)
        ? 'broader'
        : 'fits';
  return {
    verdict,
    exitCode: policyCheckExitCode(verdict),
    needs: needReports,
    statements,
    assumptions: assumptions(network, task),
  };
}

interface Judged {
  verdict: NeedVerdict;
  grantedBy: string[];
  detail?: string | undefined;
}

/** The verdict on one need in one situation. */
function judge(
  need: Need,
  prepared: readonly PreparedStatement[],
  situation: Array<[string, ContextValue]>,
): Judged {
  const context = requestContext(situation, need.context);
  const matches = prepared.map((p) => ({ p, m: matchStatement(p, need, context) }));
  const allow = matches.filter((x) => x.p.statement.effect === 'Allow');
  const deny = matches.filter((x) => x.p.statement.effect === 'Deny');
  const allowSure = union(...allow.map((x) => x.m.sure));
  const allowMaybe = union(...allow.map((x) => x.m.maybe));
  const denySure = union(...deny.map((x) => x.m.sure));
  const denyMaybe = union(...deny.map((x) => x.m.maybe));
  const wanted = need.target.set;
  const granted = intersection(allowSure, complement(denyMaybe));
  const possible = intersection(allowMaybe, complement(denySure));
  try {
    if (isSubset(wanted, granted)) {
      return {
        verdict: 'granted',
        grantedBy: allow.filter((x) => overlaps(wanted, x.m.sure)).map((x) => x.p.label),
      };
    }
    const refused = need.target.every
      ? findMember(intersection(wanted, complement(possible)))
      : overlaps(wanted, possible)
        ? undefined
        : findMember(wanted);
    if (refused !== undefined) {
      return {
        verdict: 'missing',
        grantedBy: [],
        detail: whyMissing(need, refused, allow, deny, denySure),
      };
    }
    const unsure = matches
      .filter((x) => x.m.unknown.length > 0 && overlaps(wanted, x.m.maybe))
      .map((x) => `${x.p.statement.effect} ${x.p.label} (${x.m.unknown.join(', ')})`);
    const network = unsure.some((u) => /aws:Source(Vpce?|Ip)\b/i.test(u))
      ? '; give --source-vpce, --source-vpc or --source-ip to say where the task runs'
      : '';
    return {
      verdict: 'cannot-tell',
      grantedBy: [],
      detail: `depends on conditions the check cannot evaluate: ${unsure.join('; ') || 'see the statements'}${network}`,
    };
  } catch (err) {
    if (!(err instanceof StringSetTooComplexError)) throw err;
    return {
      verdict: 'cannot-tell',
      grantedBy: [],
      detail: 'the policy is too intricate to decide',
    };
  }
}

type Matched = { p: PreparedStatement; m: StatementMatch };

/** A sentence naming an example request the policy refuses, and the statements involved. */
function whyMissing(
  need: Need,
  refused: string,
  allow: readonly Matched[],
  deny: readonly Matched[],
  denySure: StringSet,
): string {
  const request =
    need.target.key === 'resource'
      ? `on ${refused}`
      : `on ${need.resource} with ${need.target.key} "${refused}"`;
  if (has(denySure, refused)) {
    const by = deny.filter((x) => has(x.m.sure, refused)).map((x) => x.p.label);
    return `${need.action} ${request} is denied by ${by.join(', ')}`;
  }
  const naming = allow.filter((x) => x.m.action);
  if (naming.length === 0) return `no statement allows ${need.action}`;
  const near = naming.map((x) => {
    const failed = x.m.failed.filter((f) => f !== 'Resource');
    if (failed.length > 0) return `${x.p.label} (its condition ${failed.join(', ')} does not hold)`;
    const { resource } = x.p.statement;
    return `${x.p.label} (${resource.not ? 'NotResource' : 'Resource'} ${resource.values.join(', ')})`;
  });
  return `${need.action} ${request} is not allowed; statements naming the action: ${near.join('; ')}`;
}

/** Findings for the statements that still grant `need` in a situation the policy should refuse. */
function addSituationFindings(
  need: Need,
  prepared: readonly PreparedStatement[],
  situation: RequestSituation,
  findings: Map<PreparedStatement, Finding[]>,
  merged: Map<PreparedStatement, Map<string, Finding>>,
): void {
  const judged = judge(need, prepared, situation.context);
  if (judged.verdict === 'missing') return;
  const context = requestContext(situation.context, need.context);
  for (const p of prepared) {
    if (p.statement.effect !== 'Allow') continue;
    const m = matchStatement(p, need, context);
    if (!overlaps(need.target.set, m.maybe)) continue;
    const list = findings.get(p)!;
    const verb = judged.verdict === 'granted' ? 'allows' : 'may allow';
    const text = (actions: string[]) =>
      `${verb} ${actions.join(', ')} ${situation.name}: no ${situation.expected}`;
    const id = `${situation.name} ${verb}`;
    const seen = merged.get(p)?.get(id);
    if (seen) {
      if (!seen.actions.includes(need.action)) seen.actions.push(need.action);
      seen.text = text(seen.actions);
    } else {
      const finding: Finding = {
        kind: situation.kind,
        actions: [need.action],
        text: text([need.action]),
      };
      merged.set(p, (merged.get(p) ?? new Map()).set(id, finding));
      list.push(finding);
    }
  }
}

function assumptions(
  network: ReturnType<typeof checkNetworkConditions>,
  task: ReturnType<typeof taskSituation>,
): string[] {
  const out = ['S3 requests use TLS (aws:SecureTransport true), as on AWS'];
  if (task.some(([k]) => k === 'aws:sourcevpce' || k === 'aws:sourcevpc'))
    out.push(
      `S3 requests come through a VPC endpoint (${[...network.sourceVpce, network.sourceVpc].filter(Boolean).join(', ')})`,
    );
  else if (network.sourceIp.length > 0)
    out.push(`S3 requests come from ${network.sourceIp.map((c) => c.text).join(', ')}`);
  else
    out.push(
      'the network is unknown: conditions on aws:SourceVpce, aws:SourceVpc, aws:SourceIp cannot be told (give --source-vpce, --source-vpc or --source-ip)',
    );
  out.push("KMS calls for SSE-KMS are made by S3 on the task's behalf (no network keys)");
  return out;
}
