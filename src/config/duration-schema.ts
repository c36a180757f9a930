import { z } from 'zod';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a duration into milliseconds: one or more number+unit pairs (`25s`, `500ms`, `24h`,
 * `1h30m`, `1.5s`; units ms, s, m, h, d), or `0`. A bare number other than 0 is refused: a
 * unit-less `25` is too easy to misread as seconds or milliseconds.
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(trimmed); m; m = re.exec(trimmed)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (matched === 0 || matched !== trimmed.length) {
    throw new Error(`not a duration: "${text}" (use a unit: 25s, 500ms, 10m, 24h)`);
  }
  return Math.round(total);
}

/** Formats milliseconds for people: `25s`, `500ms`, `24h`, `1h30m` (hours, not days: `48h`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  if (ms < 1000 || ms % 1000 !== 0) return `${ms}ms`;
  let rest = ms / 1000;
  const parts: string[] = [];
  for (const [unit, size] of [
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}

/**
 * The transform behind every duration schema; `--help` recognises a duration field by it
 * (identity) to show its default as `25s`.
 */
export function toMilliseconds(
  value: string | number,
  ctx: z.core.$RefinementCtx<string | number>,
): number {
  if (typeof value === 'number') return value;
  try {
    return parseDuration(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message, input: value });
    return z.NEVER;
  }
}

/**
 * A duration in config: a string with a unit (`25s`, `500ms`, `24h`) or, in a JSON config
 * file, a non-negative number of milliseconds. The parsed value is milliseconds; give defaults
 * in milliseconds (`.default(25_000)`).
 */
export const durationSchema = z
  .union([z.number().nonnegative(), z.string()])
  .transform(toMilliseconds);
