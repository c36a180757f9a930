/**
 * Sets of strings as boolean combinations of wildcard patterns (`*` any run, `?` any one
 * character), the shape IAM gives actions, resource ARNs and `StringLike` values. `policy --check`
 * asks of them: is this set empty, is it inside that one, and if not, which string is not — the
 * shortest such string, so a report can name the key a policy leaves out.
 *
 * Decided exactly by exploring the product of each pattern's automaton, breadth first. Two things
 * keep that small: a string whose state already decides the answer for every extension (a pattern
 * dead, or at its trailing `*`) is not extended, and a pattern at its trailing `*` has one state
 * however it got there. A 60-statement policy of wildcards takes a few seconds of CPU; typical
 * task role policies well under one.
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
const MAX_STATES = 100_000;

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
  const { leaves, formula } = compile(set);
  const ids = leaves.map((leaf) => {
    let id = leaf.start;
    for (const c of value) id = leaf.step(id, c);
    return id;
  });
  return formula.now(ids);
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
  const { leaves, formula } = compile(set);
  const symbols = alphabet(leaves);
  const start = leaves.map((leaf) => leaf.start);
  // Patterns already decided at the start (no live position, or `*` alone) never change.
  const live = leaves.flatMap((leaf, i) => (leaf.fates[leaf.start] === Fate.Depends ? [i] : []));
  const keyOf = (ids: readonly number[]) => live.map((i) => ids[i]).join(',');
  const startKey = keyOf(start);
  const parents = new Map<string, { from: string; c: string } | null>([[startKey, null]]);
  let frontier: Array<{ key: string; ids: number[] }> = [{ key: startKey, ids: start }];
  while (frontier.length > 0) {
    const next: typeof frontier = [];
    for (const { key, ids } of frontier) {
      if (formula.now(ids)) return witness(parents, key);
      for (const c of symbols) {
        const moved = ids.slice();
        for (const i of live) moved[i] = leaves[i]!.step(ids[i]!, c);
        const movedKey = keyOf(moved);
        if (parents.has(movedKey)) continue;
        // No extension of a string whose state already decides the set "no" can be in it.
        if (formula.fate(moved) === Fate.None) continue;
        if (parents.size >= MAX_STATES) throw new StringSetTooComplexError();
        parents.set(movedKey, { from: key, c });
        next.push({ key: movedKey, ids: moved });
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

/** What every extension of a string (itself included) does: none in the set, all, or it depends. */
enum Fate {
  None = 0,
  All = 1,
  Depends = 2,
}

/**
 * One pattern as an automaton over its sets of positions, each set numbered once; transitions
 * are computed on first use and kept, so a pattern met in many questions is walked once. A set
 * at the pattern's trailing `*` (every extension accepted) is stored as one canonical set.
 */
class PatternAutomaton {
  readonly start: number;
  /** Whether the position set with this id accepts the string read so far. */
  readonly accepts: boolean[] = [];
  readonly fates: Fate[] = [];
  private readonly tail: number;
  private readonly sets: number[][] = [];
  private readonly ids = new Map<string, number>();
  private readonly moves: Array<Map<string, number>> = [];

  constructor(readonly tokens: readonly PatternToken[]) {
    let tail = tokens.length;
    while (tail > 0 && tokens[tail - 1]!.kind === 'any') tail--;
    this.tail = tail;
    this.start = this.intern(this.closure([0]));
  }

  step(id: number, c: string): number {
    // No live position, or at the trailing `*`: every character leaves the set as it is.
    if (this.fates[id] !== Fate.Depends) return id;
    const known = this.moves[id]!.get(c);
    if (known !== undefined) return known;
    const next: number[] = [];
    for (const p of this.sets[id]!) {
      const t = this.tokens[p];
      if (!t) continue;
      if (t.kind === 'any') next.push(p);
      else if (t.kind === 'one' || t.chars.includes(c)) next.push(p + 1);
    }
    const moved = this.intern(this.closure(next));
    this.moves[id]!.set(c, moved);
    return moved;
  }

  /** Positions reachable without reading: past every `*` (it may match nothing). */
  private closure(positions: readonly number[]): number[] {
    const out = new Set<number>();
    for (let p of positions) {
      out.add(p);
      while (this.tokens[p]?.kind === 'any') out.add(++p);
    }
    const sorted = [...out].sort((a, b) => a - b);
    const universal = this.tail < this.tokens.length && sorted.some((p) => p >= this.tail);
    return universal ? this.closureOfTail() : sorted;
  }

  private closureOfTail(): number[] {
    const out: number[] = [];
    for (let p = this.tail; p <= this.tokens.length; p++) out.push(p);
    return out;
  }

  private intern(positions: number[]): number {
    const key = positions.join(',');
    const known = this.ids.get(key);
    if (known !== undefined) return known;
    const id = this.sets.length;
    this.ids.set(key, id);
    this.sets.push(positions);
    this.moves.push(new Map());
    this.accepts.push(positions.includes(this.tokens.length));
    const universal = this.tail < this.tokens.length && positions.some((p) => p >= this.tail);
    this.fates.push(positions.length === 0 ? Fate.None : universal ? Fate.All : Fate.Depends);
    return id;
  }
}

/** Automata by pattern, kept while the pattern is (sets built once are asked about many times). */
const automata = new WeakMap<readonly PatternToken[], PatternAutomaton>();

function automatonOf(tokens: readonly PatternToken[]): PatternAutomaton {
  let a = automata.get(tokens);
  if (!a) {
    a = new PatternAutomaton(tokens);
    automata.set(tokens, a);
  }
  return a;
}

interface CompiledFormula {
  /** Whether the string read so far is in the set. */
  now: (ids: readonly number[]) => boolean;
  /** Whether all, none, or some extensions of it are. */
  fate: (ids: readonly number[]) => Fate;
}

/** The set's patterns as automata, and its formula over their states. */
function compile(set: StringSet): { leaves: PatternAutomaton[]; formula: CompiledFormula } {
  const leaves: PatternAutomaton[] = [];
  const index = new Map<readonly PatternToken[], number>();
  const leafOf = (tokens: readonly PatternToken[]): number => {
    let i = index.get(tokens);
    if (i === undefined) {
      i = leaves.push(automatonOf(tokens)) - 1;
      index.set(tokens, i);
    }
    return i;
  };
  const build = (s: StringSet): CompiledFormula => {
    switch (s.kind) {
      case 'all':
        return { now: () => true, fate: () => Fate.All };
      case 'none':
        return { now: () => false, fate: () => Fate.None };
      case 'pattern': {
        const i = leafOf(s.tokens);
        const a = leaves[i]!;
        return { now: (ids) => a.accepts[ids[i]!]!, fate: (ids) => a.fates[ids[i]!]! };
      }
      case 'and': {
        const parts = s.sets.map(build);
        return {
          now: (ids) => parts.every((p) => p.now(ids)),
          fate: (ids) => {
            let out = Fate.All;
            for (const p of parts) {
              const f = p.fate(ids);
              if (f === Fate.None) return Fate.None;
              if (f === Fate.Depends) out = Fate.Depends;
            }
            return out;
          },
        };
      }
      case 'or': {
        const parts = s.sets.map(build);
        return {
          now: (ids) => parts.some((p) => p.now(ids)),
          fate: (ids) => {
            let out = Fate.None;
            for (const p of parts) {
              const f = p.fate(ids);
              if (f === Fate.All) return Fate.All;
              if (f === Fate.Depends) out = Fate.Depends;
            }
            return out;
          },
        };
      }
      case 'not': {
        const part = build(s.set);
        return {
          now: (ids) => !part.now(ids),
          fate: (ids) => {
            const f = part.fate(ids);
            return f === Fate.Depends ? f : f === Fate.All ? Fate.None : Fate.All;
          },
        };
      }
    }
  };
  const formula = build(set);
  return { leaves, formula };
}

/** The characters the patterns name, then one they do not (standing for all the others). */
function alphabet(leaves: readonly PatternAutomaton[]): string[] {
  const chars = new Set<string>();
  for (const { tokens } of leaves)
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

function witness(parents: Map<string, { from: string; c: string } | null>, key: string): string {
  const chars: string[] = [];
  for (let at = parents.get(key); at; at = parents.get(at.from)) chars.push(at.c);
  return chars.reverse().join('');
}
