import { ConfigError } from '../../errors.js';
import { UnsafeOutputKeyError } from './unsafe-output-key-error.js';

/** The placeholders a key template may use. */
export const KEY_TEMPLATE_FIELDS = ['key', 'relkey', 'dir', 'name', 'ext'] as const;
export type KeyTemplateField = (typeof KEY_TEMPLATE_FIELDS)[number];

/** What a template is rendered from. */
export interface KeyTemplateInput {
  /** The full source key, e.g. `logs/2024/app.log`. */
  key: string;
  /** The source key relative to the input prefix, e.g. `2024/app.log` for input prefix `logs/`. */
  relKey: string;
}

const PLACEHOLDER = /\{([^{}]*)\}/g;

/**
 * Returns the names used in `template` that are not placeholders (empty when the template is
 * valid). Used by the config schema so a typo such as `{rel_key}` is a config error, not a
 * literal in every output key.
 */
export function unknownPlaceholders(template: string): string[] {
  const bad: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (!(KEY_TEMPLATE_FIELDS as readonly string[]).includes(m[1]!)) bad.push(m[1]!);
  }
  return bad;
}

/** `{dir}`, `{name}` and `{ext}` of a relative key: `a/b/c.tar.gz` → `a/b`, `c.tar`, `.gz`. */
export function splitKey(relKey: string): { dir: string; name: string; ext: string } {
  const slash = relKey.lastIndexOf('/');
  const dir = slash < 0 ? '' : relKey.slice(0, slash);
  const base = slash < 0 ? relKey : relKey.slice(slash + 1);
  const dot = base.lastIndexOf('.');
  // A leading dot names a dotfile (`.env`), not an extension.
  if (dot <= 0) return { dir, name: base, ext: '' };
  return { dir, name: base.slice(0, dot), ext: base.slice(dot) };
}

/**
 * Replaces each `{name}` in `template` with `fields[name]`, for any job's own key template
 * (times, hosts, task metadata...). A placeholder with no field throws a `ConfigError` naming the
 * known ones, so a typo never becomes a literal in every key. Check templates at config time
 * with {@link templatePlaceholders}.
 */
export function renderTemplate(template: string, fields: Record<string, string>): string {
  const unknown = templatePlaceholders(template).filter((name) => !Object.hasOwn(fields, name));
  if (unknown.length > 0) {
    throw new ConfigError([
      {
        path: 'keyTemplate',
        message: `unknown placeholder ${unknown.map((n) => `{${n}}`).join(', ')}; use ${Object.keys(
          fields,
        )
          .map((f) => `{${f}}`)
          .join(', ')}`,
      },
    ]);
  }
  return template.replace(PLACEHOLDER, (_whole, name: string) => fields[name]!);
}

/** The placeholder names used in `template`, in order (`{yyyy}/{HH}` → `yyyy`, `HH`). */
export function templatePlaceholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/**
 * Renders `template` for one object, then normalises the result as a path below the output
 * prefix: empty and `.` segments are dropped (so `{dir}/{name}` works when `{dir}` is empty and a
 * leading `/` cannot reach the bucket root), `..` removes the segment before it, and a `..` that
 * would climb above the prefix throws {@link UnsafeOutputKeyError}. Everything else (spaces,
 * unicode, `+`, `%`) is kept byte for byte: S3 keys are opaque strings.
 */
export function renderKeyTemplate(template: string, input: KeyTemplateInput): string {
  const { dir, name, ext } = splitKey(input.relKey);
  const values: Record<KeyTemplateField, string> = {
    key: input.key,
    relkey: input.relKey,
    dir,
    name,
    ext,
  };
  const rendered = template.replace(PLACEHOLDER, (whole, field: string) =>
    field in values ? values[field as KeyTemplateField] : whole,
  );
  return normaliseRelativeKey(rendered, input.key);
}

/** Normalises a rendered relative key (see {@link renderKeyTemplate}); `sourceKey` names the object in errors. */
export function normaliseRelativeKey(rendered: string, sourceKey: string): string {
  const out: string[] = [];
  for (const segment of rendered.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) {
        throw new UnsafeOutputKeyError(sourceKey, rendered, '`..` climbs above the output prefix');
      }
      out.pop();
      continue;
    }
    out.push(segment);
  }
  if (out.length === 0) throw new UnsafeOutputKeyError(sourceKey, rendered, 'it is empty');
  // Keep a trailing slash only if the source had one: `dir/` objects are folder markers.
  const tail = rendered.endsWith('/') ? '/' : '';
  return out.join('/') + tail;
}

/** `prefix` + `relative`, with exactly one `/` between them when the prefix names a folder. */
export function joinPrefix(prefix: string, relative: string): string {
  if (prefix === '' || prefix.endsWith('/')) return prefix + relative;
  return `${prefix}/${relative}`;
}

/**
 * The folder a prefix names, as keys written under it start: `out` → `out/`, `out/` and `` as
 * they are. Outputs are always written below this folder (`joinPrefix`), so checks of "is this
 * key one of ours" compare on it: `out` must not claim `outgoing.csv` or `output-2024/…`.
 */
export function prefixFolder(prefix: string): string {
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** True when `key` lies below the folder `prefix` names (see {@link prefixFolder}). */
export function isUnderFolder(key: string, prefix: string): boolean {
  return key.startsWith(prefixFolder(prefix));
}

/**
 * The source key relative to the input "folder": the prefix when it ends with `/` or names a
 * folder of the key (`logs` for `logs/a.txt` → `a.txt`), else the prefix up to its last `/`, so
 * a prefix that ends mid-name keeps whole names (`logs/2024-` for `logs/2024-01.txt` → `2024-01.txt`).
 */
export function relativeKey(key: string, prefix: string): string {
  if (prefix === '' || !key.startsWith(prefix)) return key;
  if (prefix.endsWith('/')) return key.slice(prefix.length);
  if (key.length === prefix.length) return key.slice(prefix.lastIndexOf('/') + 1);
  if (key[prefix.length] === '/') return key.slice(prefix.length + 1);
  return key.slice(prefix.lastIndexOf('/') + 1);
}
