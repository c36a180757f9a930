import type { FieldKind } from './option-fields.js';

/** A value coerced from text, or why it could not be. */
export type Coerced = { ok: true; value: unknown } | { ok: false; message: string };

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/**
 * Turns one piece of text from a flag or an environment variable into the type a field wants.
 * Sizes, durations, enums and strings stay text (the schema parses and checks them, so its
 * messages are the same whichever source the value came from).
 */
export function coerceText(kind: FieldKind, text: string): Coerced {
  switch (kind) {
    case 'number': {
      const trimmed = text.trim();
      if (!/^-?\d+(\.\d+)?$/.test(trimmed))
        return { ok: false, message: `not a number: "${text}"` };
      return { ok: true, value: Number(trimmed) };
    }
    case 'boolean': {
      const v = text.trim().toLowerCase();
      if (TRUE.has(v)) return { ok: true, value: true };
      if (FALSE.has(v)) return { ok: true, value: false };
      return { ok: false, message: `not a boolean: "${text}" (use true/false or 1/0)` };
    }
    case 'array':
      return { ok: true, value: splitList(text) };
    case 'record': {
      const out: Record<string, string> = {};
      for (const pair of splitList(text)) {
        const entry = parsePair(pair);
        if (!entry.ok) return entry;
        out[entry.key] = entry.value;
      }
      return { ok: true, value: out };
    }
    default:
      return { ok: true, value: text };
  }
}

/** `key=value` → its parts; the value may itself contain `=`. */
export function parsePair(
  text: string,
): { ok: true; key: string; value: string } | { ok: false; message: string } {
  const i = text.indexOf('=');
  if (i <= 0) return { ok: false, message: `expected key=value, got "${text}"` };
  return { ok: true, key: text.slice(0, i), value: text.slice(i + 1) };
}

/** Splits a comma-separated list, keeping commas inside braces (`*.{json,csv}` is one glob). */
export function splitList(text: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '{') depth++;
    if (ch === '}') depth = Math.max(0, depth - 1);
    if (ch === ',' && depth === 0) {
      items.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  items.push(current);
  return items.map((s) => s.trim()).filter((s) => s.length > 0);
}
