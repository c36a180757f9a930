import type { z } from 'zod';
import { formatDuration, toMilliseconds } from './duration-schema.js';
import { formatSize, toBytes } from './size-schema.js';

/** How a field's text (from a flag or the environment) is turned into a config value. */
export type FieldKind =
  | 'string'
  | 'number'
  | 'boolean'
  | 'enum'
  | 'array'
  | 'record'
  | 'size'
  | 'duration';

/** One config field as the command line and the environment see it. */
export interface OptionField {
  /** Schema key, camelCase: `partSize`. */
  key: string;
  /** Command-line flag: `--part-size`. */
  flag: string;
  /** Environment variable: `S3WORKER_PART_SIZE`. */
  env: string;
  kind: FieldKind;
  /** The field's `.describe()` text. */
  description: string | undefined;
  /** Allowed values of an enum field. */
  choices: readonly string[] | undefined;
  /** The schema default (parsed value: bytes, milliseconds...), undefined when none. */
  defaultValue: unknown;
  /** The default as shown in `--help` (`8 MiB`, `25s`). */
  defaultText: string | undefined;
  /** True when the config is invalid without this field. */
  required: boolean;
}

/** Prefix of every s3worker environment variable. */
export const ENV_PREFIX = 'S3WORKER_';

/** `partSize` → `part-size`. */
export function kebabCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

/** `partSize` → `S3WORKER_PART_SIZE`. */
export function envName(key: string): string {
  return `${ENV_PREFIX}${kebabCase(key).replaceAll('-', '_').toUpperCase()}`;
}

type AnySchema = z.core.$ZodType;
interface Def {
  type: string;
  innerType?: AnySchema;
  in?: AnySchema;
  out?: AnySchema;
  transform?: unknown;
  defaultValue?: unknown;
  entries?: Record<string, string>;
  values?: unknown[];
  options?: AnySchema[];
}

const def = (s: AnySchema): Def => s._zod.def as unknown as Def;
const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch']);

/**
 * The fields of an object schema as flags and environment variables: names derived from the
 * keys, the kind of coercion their text needs, their description, choices and default.
 */
export function describeFields(schema: z.ZodObject): OptionField[] {
  return Object.entries(schema.shape).map(([key, field]) => describeField(key, field as AnySchema));
}

function describeField(key: string, field: AnySchema): OptionField {
  let description: string | undefined;
  let defaultValue: unknown;
  let hasDefault = false;
  let s = field;
  for (;;) {
    description ??= (s as { description?: string }).description;
    const d = def(s);
    if (d.type === 'default' || d.type === 'prefault') {
      if (!hasDefault) defaultValue = d.defaultValue;
      hasDefault = true;
    }
    if (WRAPPERS.has(d.type) && d.innerType) {
      s = d.innerType;
      continue;
    }
    break;
  }
  const { kind, choices } = classify(s);
  return {
    key,
    flag: `--${kebabCase(key)}`,
    env: envName(key),
    kind,
    description,
    choices,
    defaultValue,
    defaultText: hasDefault ? formatDefault(kind, defaultValue) : undefined,
    required: !isOptional(field),
  };
}

function isOptional(field: AnySchema): boolean {
  return (
    (field as { safeParse?: (v: unknown) => { success: boolean } }).safeParse?.(undefined)
      .success === true
  );
}

function classify(s: AnySchema): { kind: FieldKind; choices: readonly string[] | undefined } {
  const d = def(s);
  switch (d.type) {
    case 'number':
    case 'int':
    case 'bigint':
      return { kind: 'number', choices: undefined };
    case 'boolean':
      return { kind: 'boolean', choices: undefined };
    case 'enum':
      return { kind: 'enum', choices: Object.values(d.entries ?? {}) };
    case 'literal':
      return { kind: 'enum', choices: (d.values ?? []).map(String) };
    case 'array':
      return { kind: 'array', choices: undefined };
    case 'record':
      return { kind: 'record', choices: undefined };
    case 'pipe': {
      const tx = d.out ? def(d.out).transform : undefined;
      if (tx === toBytes) return { kind: 'size', choices: undefined };
      if (tx === toMilliseconds) return { kind: 'duration', choices: undefined };
      // A refined size/duration (`sizeSchema.superRefine(...)`) is a pipe around one.
      return d.in ? classify(d.in) : { kind: 'string', choices: undefined };
    }
    default:
      if (WRAPPERS.has(d.type) && d.innerType) return classify(d.innerType);
      return { kind: 'string', choices: undefined };
  }
}

/** A default as `--help` and the docs write it (sizes as 8MiB, durations as 25s). */
export function formatDefault(kind: FieldKind, value: unknown): string {
  if (typeof value === 'number' && kind === 'size') return formatSize(value);
  if (typeof value === 'number' && kind === 'duration') return formatDuration(value);
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.join(',');
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k}=${v}`).join(',');
  }
  return String(value);
}
