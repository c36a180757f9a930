import { ConfigError } from '../errors.js';

/** One statement of a policy under review, every list field as an array. */
export interface ReviewedStatement {
  /** Its Sid, else `#n` (1-based); a review of several documents prefixes the document's name. */
  label: string;
  /** The document it came from, as given to `--check`. */
  source: string;
  /** Position in its document, 0-based. */
  index: number;
  effect: 'Allow' | 'Deny';
  /** `Action` or `NotAction` (exactly one is set). */
  action: { not: boolean; values: string[] };
  /** `Resource` or `NotResource` (exactly one is set). */
  resource: { not: boolean; values: string[] };
  /** Operator → key → values, values as strings (`true` → `"true"`). */
  condition: Record<string, Record<string, string[]>>;
}

/** An identity policy under review. */
export interface ReviewedPolicy {
  source: string;
  /** `Version`; `${...}` policy variables exist only in 2012-10-17. */
  version: string | undefined;
  statements: ReviewedStatement[];
}

/**
 * Reads an IAM identity policy from JSON text: a policy document, or what the AWS CLI prints for
 * `aws iam get-role-policy` (`PolicyDocument`) and `aws iam get-policy-version`
 * (`PolicyVersion.Document`), the document as an object, JSON text or URL-encoded JSON text (the
 * raw API form). A document with a `Principal` is a resource policy and refused.
 *
 * @throws ConfigError naming the document and what is wrong with it.
 */
export function readPolicyInput(text: string, source: string): ReviewedPolicy {
  const fail = (message: string): never => {
    throw new ConfigError([{ path: '--check', message: `${source}: ${message}` }], {
      hint: 'give --check an IAM identity policy: a JSON document, or the output of `aws iam get-role-policy` / `aws iam get-policy-version`',
    });
  };
  const doc = unwrap(parseJson(text, fail), fail);
  const version = typeof doc.Version === 'string' ? doc.Version : undefined;
  const raw = doc.Statement;
  const list = Array.isArray(raw) ? raw : raw !== undefined ? [raw] : fail('no Statement');
  const statements = list.map((s: unknown, index): ReviewedStatement => {
    if (s === null || typeof s !== 'object' || Array.isArray(s))
      return fail(`Statement[${index}] is not an object`);
    const st = s as Record<string, unknown>;
    const sid = typeof st.Sid === 'string' && st.Sid !== '' ? st.Sid : undefined;
    const at = `Statement[${index}]${sid ? ` (${sid})` : ''}`;
    if (st.Principal !== undefined || st.NotPrincipal !== undefined) {
      fail(
        `${at} names a Principal: this is a resource policy (bucket or trust policy), not a role's identity policy`,
      );
    }
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny') fail(`${at}: Effect must be Allow or Deny`);
    return {
      label: sid ?? `#${index + 1}`,
      source,
      index,
      effect: st.Effect as 'Allow' | 'Deny',
      action: pair(st, 'Action', 'NotAction', at, fail),
      resource: pair(st, 'Resource', 'NotResource', at, fail),
      condition: condition(st.Condition, at, fail),
    };
  });
  return { source, version, statements };
}

function parseJson(text: string, fail: (m: string) => never): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON: ${(err as Error).message}`);
  }
}

/** The policy document inside whatever the AWS CLI printed. */
function unwrap(value: unknown, fail: (m: string) => never): Record<string, unknown> {
  let doc = value;
  const field = (v: unknown, name: string): unknown =>
    v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[name] : undefined;
  if (field(doc, 'PolicyDocument') !== undefined) doc = field(doc, 'PolicyDocument');
  else if (field(field(doc, 'PolicyVersion'), 'Document') !== undefined)
    doc = field(field(doc, 'PolicyVersion'), 'Document');
  if (typeof doc === 'string') {
    const text = doc.trimStart().startsWith('%') ? safeDecode(doc) : doc;
    doc = parseJson(text, (m) => fail(`the embedded policy document is ${m}`));
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    return fail('not a policy document (a JSON object with Version and Statement)');
  return doc as Record<string, unknown>;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function pair(
  st: Record<string, unknown>,
  name: string,
  notName: string,
  at: string,
  fail: (m: string) => never,
): { not: boolean; values: string[] } {
  const plain = st[name];
  const negated = st[notName];
  if (plain !== undefined && negated !== undefined) fail(`${at} has both ${name} and ${notName}`);
  if (plain === undefined && negated === undefined)
    fail(`${at} has neither ${name} nor ${notName}`);
  const value = plain ?? negated;
  const values = [value].flat();
  if (values.length === 0 || values.some((v) => typeof v !== 'string'))
    fail(`${at}: ${plain !== undefined ? name : notName} must be a string or a list of strings`);
  return { not: plain === undefined, values: values as string[] };
}

function condition(
  value: unknown,
  at: string,
  fail: (m: string) => never,
): Record<string, Record<string, string[]>> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return fail(`${at}: Condition must be an object`);
  const out: Record<string, Record<string, string[]>> = {};
  for (const [op, keys] of Object.entries(value)) {
    if (keys === null || typeof keys !== 'object' || Array.isArray(keys))
      return fail(`${at}: Condition ${op} must map keys to values`);
    out[op] = {};
    for (const [key, v] of Object.entries(keys)) {
      const values = [v].flat();
      if (values.some((x) => !['string', 'boolean', 'number'].includes(typeof x)))
        fail(`${at}: Condition ${op} ${key} must be a string, boolean, number or a list of them`);
      out[op][key] = values.map(String);
    }
  }
  return out;
}
