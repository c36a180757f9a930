import { z } from 'zod';

const UNITS: Record<string, number> = {
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1000 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/**
 * Parses a byte size: a plain number of bytes (`8388608`) or a number with a unit (`8MiB`,
 * `5MB`, `1.5GiB`, `64 KiB`; units are case-insensitive, `KB`/`MB` are powers of 1000 and
 * `KiB`/`MiB` powers of 1024). Returns whole bytes; throws on anything else.
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[(m[2] || 'b').toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new Error(`not a size: "${text}" (use bytes or a unit: 8MiB, 5MB, 64KiB)`);
  }
  return Math.round(Number(m[1]) * unit);
}

/** Formats bytes for people: `8 MiB`, `1.5 GiB`, `512 B`. */
export function formatSize(bytes: number): string {
  const steps = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let i = 0;
  while (Math.abs(value) >= 1024 && i < steps.length - 1) {
    value /= 1024;
    i++;
  }
  const shown = Number.isInteger(value) ? String(value) : value.toFixed(1).replace(/\.0$/, '');
  return `${shown} ${steps[i]}`;
}

/**
 * The transform behind every size schema; `--help` recognises a size field by it (identity)
 * to show its default as `8 MiB`.
 */
export function toBytes(
  value: string | number,
  ctx: z.core.$RefinementCtx<string | number>,
): number {
  if (typeof value === 'number') return value;
  try {
    return parseSize(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message, input: value });
    return z.NEVER;
  }
}

/**
 * A byte size in config: a non-negative integer (bytes) or a string with a unit (`8MiB`);
 * the parsed value is a number of bytes. Give defaults in bytes (`.default(8 * 1024 ** 2)`);
 * bound it with `sizeInRange` or `.pipe(z.number().min(...))`.
 */
export const sizeSchema = z.union([z.int().nonnegative(), z.string()]).transform(toBytes);

/** `sizeSchema` with bounds, and messages that say them in MiB/GiB rather than raw bytes. */
export function sizeInRange(bounds: { min?: number; max?: number }) {
  return sizeSchema.superRefine((v, ctx) => {
    if (bounds.min !== undefined && v < bounds.min) {
      ctx.addIssue({
        code: 'custom',
        message: `must be at least ${formatSize(bounds.min)} (got ${formatSize(v)})`,
      });
    }
    if (bounds.max !== undefined && v > bounds.max) {
      ctx.addIssue({
        code: 'custom',
        message: `must be at most ${formatSize(bounds.max)} (got ${formatSize(v)})`,
      });
    }
  });
}
