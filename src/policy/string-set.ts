/**
 * Sets of strings as boolean combinations of wildcard patterns (`*` any run, `?` any one
 * character), the shape IAM gives actions, resource ARNs and `StringLike` values. `policy --check`
 * asks of them: is this set empty, is it inside that one, and if not, which string is not — the
 * shortest such string, so a report can name the key a policy leaves out.
 *
 * Decided exactly by exploring the product of each pattern's automaton; sizes here (a policy's
 * patterns, tens of characters each) keep it to a few thousand states.
 */

/** One position of a pattern. `chars` holds one character, or its case variants. */
export type PatternToken = { kind: 'chars'; chars: string } | { kind: 'one' } | { kind: 'any' };

/** A set of strings. Build with the functions below; the shape is plain data. */
export type StringSet =
  | { kind: 'pattern'; tokens: readonly PatternToken[] }
  | { kind: 'all' }
  | { kind: 'none' }
  | { kind: 'and'; sets: readonly StringSet[] }
  | { kind: 'or'; sets: readonly StringSet[] }
  | { kind: 'not'; set: StringSet };

/** Every string. */
export const ALL: StringSet = { kind: 'all' };
/** No string. */
export const NONE: StringSet = { kind: 'none' };

/** More product states than this and a question is not answered (see {@link StringSetTooComplexError}). */
const MAX_STATES = 200_000;

/** Thrown when a set is too intricate to decide within {@link MAX_STATES} states. */
export class StringSetTooComplexError extends Error {
  constructor() {
    super(`a set of strings needed more than ${MAX_STATES} states to decide`);
    this.name = 'StringSetTooComplexError';
  }
}

/** The set of exactly these tokens. */
export function patternSet(tokens: readonly PatternToken[]): StringSet {
  return { kind: 'pattern', tokens };
}

/** One string; with `ignoreCase`, in any mix of cases. */
export function literalSet(value: string, options: { ignoreCase?: boolean } = {}): StringSet {
  return patternSet(literalTokens(value, options.ignoreCase === true));
}

/** Every string that starts with `prefix` (including `prefix` itself). */
export function prefixSet(prefix: string): StringSet {
  return patternSet([...literalTokens(prefix, false), { kind: 'any' }]);
}

/** The tokens of a literal string. */
export function literalTokens(value: string, ignoreCase: boolean): PatternToken[] {
  return [...value].map((c) => ({ kind: 'chars', chars: ignoreCase ? caseVariants(c) : c }));
}

/** `c` and its other case, when it has one. */
export function caseVariants(c: string): string {
  const lower = c.toLowerCase();
  const upper = c.toUpperCase();
  if (lower === upper || [...lower].length !== 1 || [...upper].length !== 1) return c;
  return lower + upper;
}

/** Strings in any of `sets`. */
export function union(...sets: StringSet[]): StringSet {
  const kept = sets.filter((s) => s.kind !== 'none');
  if (kept.some((s) => s.kind === 'all')) return ALL;
  if (kept.length === 0) return NONE;
  return kept.length === 1 ? kept[0]! : { kind: 'or', sets: kept };
}

/** Strings in all of `sets`. */
export function intersection(...sets: StringSet[]): StringSet {
  const kept = sets.filter((s) => s.kind !== 'all');
  if (kept.some((s) => s.kind === 'none')) return NONE;
  if (kept.length === 0) return ALL;
  return kept.length === 1 ? kept[0]! : { kind: 'and', sets: kept };
}

/** Strings not in `set`. */
export function complement(set: StringSet): StringSet {
  if (set.kind === 'all') return NONE;
  if (set.kind === 'none') return ALL;
  if (set.kind === 'not') return set.set;
  return { kind: 'not', set };
}

/** Strings in `a` and not in `b`. */
export function difference(a: StringSet, b: StringSet): StringSet {
  return intersection(a, complement(b));
}

/** Whether `value` is in `set`. */
export function has(set: StringSet, value: string): boolean {
  const leaves = leavesOf(set);
  let states = leaves.map((tokens) => closure(tokens, [0]));
  for (const c of value) states = states.map((s, i) => step(leaves[i]!, s, c));
  return evaluate(set, indexLeaves(leaves), states);
}

/**
 * The shortest string of `set` (the first in the order of the characters the patterns use), or
 * undefined when it is empty. A character no pattern names stands for all such characters.
 *
 * @throws StringSetTooComplexError past {@link MAX_STATES} states.
 */
export function findMember(set: StringSet): string | undefined {
  if (set.kind === 'none') return undefined;
  if (set.kind === 'all') return '';
  const leaves = leavesOf(set);
  const index = indexLeaves(leaves);
  const symbols = alphabet(leaves);
  const start = leaves.map((tokens) => closure(tokens, [0]));
  const startKey = keyOf(start);
  const parents = new Map<string, { from: string; c: string } | null>([[startKey, null]]);
  let frontier: Array<{ key: string; states: number[][] }> = [{ key: startKey, states: start }];
  while (frontier.length > 0) {
    const next: typeof frontier = [];
    for (const { key, states } of frontier) {
      if (evaluate(set, index, states)) return witness(parents, key);
      for (const c of symbols) {
        const moved = states.map((s, i) => step(leaves[i]!, s, c));
        const movedKey = keyOf(moved);
        if (parents.has(movedKey)) continue;
        if (parents.size >= MAX_STATES) throw new StringSetTooComplexError();
        parents.set(movedKey, { from: key, c });
        next.push({ key: movedKey, states: moved });
      }
    }
    frontier = next;
  }
  return undefined;
}

/** Whether `set` holds no string. */
export function isEmpty(set: StringSet): boolean {
  return findMember(set) === undefined;
}

/** Whether every string of `a` is in `b`. */
export function isSubset(a: StringSet, b: StringSet): boolean {
  return isEmpty(difference(a, b));
}

/** Whether `a` and `b` share a string. */
export function overlaps(a: StringSet, b: StringSet): boolean {
  return !isEmpty(intersection(a, b));
}

/** The distinct patterns of a set, each once (the same tokens twice are one leaf). */
function leavesOf(set: StringSet): Array<readonly PatternToken[]> {
  const seen = new Map<string, readonly PatternToken[]>();
  const walk = (s: StringSet): void => {
    if (s.kind === 'pattern') seen.set(tokensKey(s.tokens), s.tokens);
    else if (s.kind === 'and' || s.kind === 'or') for (const x of s.sets) walk(x);
    else if (s.kind === 'not') walk(s.set);
  };
  walk(set);
  return [...seen.values()];
}

function indexLeaves(leaves: Array<readonly PatternToken[]>): Map<string, number> {
  return new Map(leaves.map((tokens, i) => [tokensKey(tokens), i]));
}

function tokensKey(tokens: readonly PatternToken[]): string {
  return tokens.map((t) => (t.kind === 'chars' ? `c${t.chars}` : t.kind)).join('\u0000');
}

function evaluate(set: StringSet, index: Map<string, number>, states: number[][]): boolean {
  switch (set.kind) {
    case 'all':
      return true;
    case 'none':
      return false;
    case 'pattern': {
      const i = index.get(tokensKey(set.tokens))!;
      return states[i]!.includes(set.tokens.length);
    }
    case 'and':
      return set.sets.every((s) => evaluate(s, index, states));
    case 'or':
      return set.sets.some((s) => evaluate(s, index, states));
    case 'not':
      return !evaluate(set.set, index, states);
  }
}

/** The characters the patterns name, then one they do not (standing for all the others). */
function alphabet(leaves: Array<readonly PatternToken[]>): string[] {
  const chars = new Set<string>();
  for (const tokens of leaves)
    for (const t of tokens) if (t.kind === 'chars') for (const c of t.chars) chars.add(c);
  const sorted = [...chars].sort();
  const readable = [...'xyzqjk0123456789-_.'].find((c) => !chars.has(c));
  let other = readable;
  for (let code = 0x100; other === undefined; code++) {
    const c = String.fromCodePoint(code);
    if (!chars.has(c)) other = c;
  }
  return [...sorted, other];
}

/** Positions reachable without reading: past every `any` (it may match nothing). */
function closure(tokens: readonly PatternToken[], positions: readonly number[]): number[] {
  const out = new Set<number>();
  for (let p of positions) {
    out.add(p);
    while (tokens[p]?.kind === 'any') out.add(++p);
  }
  return [...out].sort((a, b) => a - b);
}

function step(tokens: readonly PatternToken[], positions: readonly number[], c: string): number[] {
  const next: number[] = [];
  for (const p of positions) {
    const t = tokens[p];
    if (!t) continue;
    if (t.kind === 'any') next.push(p);
    else if (t.kind === 'one' || t.chars.includes(c)) next.push(p + 1);
  }
  return closure(tokens, next);
}

function keyOf(states: number[][]): string {
  return states.map((s) => s.join(',')).join('|');
}

function witness(parents: Map<string, { from: string; c: string } | null>, key: string): string {
  const chars: string[] = [];
  for (let at = parents.get(key); at; at = parents.get(at.from)) chars.push(at.c);
  return chars.reverse().join('');
}
