import {
  caseVariants,
  NONE,
  type PatternToken,
  patternSet,
  type StringSet,
  union,
} from './string-set.js';

/** How a policy's text is read. */
export interface IamPatternOptions {
  /** `*` and `?` are wildcards (actions, resources, `StringLike`/`ArnLike` values); else literal. */
  wildcards: boolean;
  /**
   * `${...}` is a policy variable (policy version 2012-10-17): `${*}`, `${?}`, `${$}` stand for
   * the literal character; any other variable (`${aws:username}`) is a value only known at request time.
   */
  variables: boolean;
  /** Match either case (`...IgnoreCase` operators). Default false. */
  ignoreCase?: boolean;
}

/**
 * The strings a pattern from a policy may match (`over`) and surely matches (`under`). They differ
 * only when the text holds a variable known at request time: over reads it as `*`, under as
 * matching nothing, so a check never claims a grant it cannot prove.
 */
export interface IamPattern {
  over: StringSet;
  under: StringSet;
  /** The request-time variables found, as written (`${aws:username}`). */
  variables: string[];
}

/** Reads one pattern of a policy. */
export function iamPattern(text: string, options: IamPatternOptions): IamPattern {
  const over: PatternToken[] = [];
  const variables: string[] = [];
  const chars = (c: string): PatternToken => ({
    kind: 'chars',
    chars: options.ignoreCase ? caseVariants(c) : c,
  });
  const codePoints = [...text];
  for (let i = 0; i < codePoints.length; i++) {
    const c = codePoints[i]!;
    if (options.variables && c === '$' && codePoints[i + 1] === '{') {
      const end = codePoints.indexOf('}', i + 2);
      if (end !== -1) {
        const name = codePoints.slice(i + 2, end).join('');
        if (name === '*' || name === '?' || name === '$') over.push(chars(name));
        else {
          variables.push(`\${${name}}`);
          over.push({ kind: 'any' });
        }
        i = end;
        continue;
      }
    }
    if (options.wildcards && c === '*') over.push({ kind: 'any' });
    else if (options.wildcards && c === '?') over.push({ kind: 'one' });
    else over.push(chars(c));
  }
  const set = patternSet(over);
  return { over: set, under: variables.length > 0 ? NONE : set, variables };
}

/** Several patterns (a statement's list), as one union of each bound. */
export function iamPatterns(texts: readonly string[], options: IamPatternOptions): IamPattern {
  const each = texts.map((t) => iamPattern(t, options));
  return {
    over: union(...each.map((p) => p.over)),
    under: union(...each.map((p) => p.under)),
    variables: each.flatMap((p) => p.variables),
  };
}
