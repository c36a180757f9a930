import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { coerceText } from './coerce-text.js';
import { describeFields, type OptionField } from './option-fields.js';

/** Where a config value came from, highest precedence first. */
export type ValueSource = 'flag' | 'env' | 'file' | 'default';

/** The raw inputs of one run's configuration. */
export interface ConfigInputs {
  /** Values from the command line, by schema key, already coerced (see `parseArgs`). */
  flags: Record<string, unknown>;
  /** The environment; only `S3WORKER_*` names of known fields are read. */
  env: Record<string, string | undefined>;
  /** The config file's top-level object, and its name for messages. */
  file?: { values: Record<string, unknown>; name: string };
  /** Problems found earlier (argument parsing); listed with the others. */
  issues?: ConfigIssue[];
}

/** A validated config and, for each key that was set, where its value came from. */
export interface ResolvedConfig<T> {
  config: T;
  sources: Record<string, ValueSource>;
}

/**
 * Merges flags > environment > config file > defaults for the fields of `schemas` and validates
 * each part with its own schema (so a job schema's cross-field refinements still run). Throws
 * one ConfigError listing every problem with its field path and where the value came from.
 * Reads nothing itself: no file, no network.
 */
export function resolveConfig<const S extends Record<string, z.ZodObject>>(
  schemas: S,
  inputs: ConfigInputs,
): ResolvedConfig<{ [K in keyof S]: z.output<S[K]> }> {
  const issues: ConfigIssue[] = [...(inputs.issues ?? [])];
  const fields = new Map<string, OptionField>();
  for (const schema of Object.values(schemas)) {
    for (const f of describeFields(schema)) fields.set(f.key, f);
  }
  const raw: Record<string, unknown> = {};
  const sources: Record<string, ValueSource> = {};
  const file = inputs.file;
  if (file) {
    for (const key of Object.keys(file.values)) {
      if (!fields.has(key)) {
        issues.push({ path: key, message: `unknown field (from config file ${file.name})` });
      }
    }
  }
  for (const f of fields.values()) {
    if (inputs.flags[f.key] !== undefined) {
      raw[f.key] = inputs.flags[f.key];
      sources[f.key] = 'flag';
      continue;
    }
    const text = inputs.env[f.env];
    if (text !== undefined && text !== '') {
      const coerced = coerceText(f.kind, text);
      if (coerced.ok) {
        raw[f.key] = coerced.value;
        sources[f.key] = 'env';
      } else {
        issues.push({ path: f.key, message: `${coerced.message} (from env ${f.env})` });
      }
      continue;
    }
    if (file && file.values[f.key] !== undefined) {
      raw[f.key] = file.values[f.key];
      sources[f.key] = 'file';
    }
  }
  const config: Record<string, unknown> = {};
  for (const [part, schema] of Object.entries(schemas)) {
    const keys = Object.keys(schema.shape);
    const input = Object.fromEntries(keys.filter((k) => k in raw).map((k) => [k, raw[k]]));
    const result = schema.safeParse(input);
    if (result.success) {
      config[part] = result.data;
      continue;
    }
    for (const issue of result.error.issues) {
      const top = String(issue.path[0] ?? '');
      const f = fields.get(top);
      const path = issue.path.map(String).join('.');
      if (f && raw[top] === undefined && issue.path.length === 1) {
        issues.push({
          path,
          message: `required: set ${f.flag}, ${f.env} or "${f.key}" in the config file`,
        });
      } else {
        issues.push({ path, message: `${issue.message}${describeSource(f, sources[top], file)}` });
      }
    }
  }
  for (const f of fields.values()) sources[f.key] ??= 'default';
  if (issues.length > 0) throw new ConfigError(dedupe(issues));
  return { config: config as { [K in keyof S]: z.output<S[K]> }, sources };
}

function describeSource(
  field: OptionField | undefined,
  source: ValueSource | undefined,
  file: ConfigInputs['file'],
): string {
  if (!field || !source) return '';
  if (source === 'flag') return ` (from flag ${field.flag})`;
  if (source === 'env') return ` (from env ${field.env})`;
  if (source === 'file') return ` (from config file ${file?.name ?? ''})`;
  return ' (the default)';
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const id = `${i.path}\0${i.message}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
