import { CODECS, codecExtension } from '../kit/compression.js';
import { prefixFolder } from '../kit/key-template.js';
import { AGE_EXTENSION } from './age-encryption.js';

/** Default key template of a backup, below the output prefix. */
export const DEFAULT_BACKUP_KEY_TEMPLATE = '{engine}/{database}/{timestamp}.{ext}';

/** The placeholders a backup key template may use. */
export const BACKUP_KEY_FIELDS = [
  'engine',
  'database',
  'timestamp',
  'ext',
  'yyyy',
  'MM',
  'dd',
  'HH',
] as const;
export type BackupKeyField = (typeof BACKUP_KEY_FIELDS)[number];

/** Fields that change from one backup of a database to the next. */
const TIME_FIELDS: ReadonlySet<string> = new Set(['timestamp', 'yyyy', 'MM', 'dd', 'HH']);

/**
 * The `{database}` value of the PostgreSQL globals backup. `@` never appears in an encoded
 * database name (see {@link encodeDatabaseName}), so no database can collide with it.
 */
export const GLOBALS_NAME = '@globals';

/**
 * A database name as one key segment: percent-encoded like a URI component, so `/`, spaces,
 * `;` and the like never make extra folders or odd keys (`x; touch /tmp/p` → `x%3B%20touch%20%2Ftmp%2Fp`).
 */
export function encodeDatabaseName(name: string): string {
  return encodeURIComponent(name);
}

/** `2026-01-31T12:00:00.123Z` → `20260131T120000.123Z`: sortable, no colons. */
export function formatTimestamp(date: Date): string {
  return date.toISOString().replaceAll('-', '').replaceAll(':', '');
}

/** Placeholders in `template` that are not backup key fields. */
export function unknownBackupKeyFields(template: string): string[] {
  return [...template.matchAll(/\{([^}]*)\}/g)]
    .map((m) => m[1]!)
    .filter((name) => !(BACKUP_KEY_FIELDS as readonly string[]).includes(name));
}

/** Problems with a key template, as messages (empty when usable). */
export function backupKeyTemplateProblems(template: string): string[] {
  const problems = unknownBackupKeyFields(template).map(
    (name) =>
      `unknown placeholder {${name}}; use ${BACKUP_KEY_FIELDS.map((f) => `{${f}}`).join(', ')}`,
  );
  for (const required of ['database', 'timestamp']) {
    if (!template.includes(`{${required}}`)) {
      problems.push(`must contain {${required}}: two backups must never share a key`);
    }
  }
  if (template.startsWith('/')) problems.push('must not start with /');
  return problems;
}

/** The values of one backup's key. */
export interface BackupKeyValues {
  engine: string;
  /** The raw database name (encoded here), or {@link GLOBALS_NAME}. */
  database: string;
  startedAt: Date;
  /** `dump.zst`, `sql.gz.age`... */
  ext: string;
}

/**
 * The key of a backup: the rendered template below the folder `prefix` names (`db` and `db/`
 * both give `db/postgres/app/...`; see `prefixFolder`).
 */
export function renderBackupKey(prefix: string, template: string, values: BackupKeyValues): string {
  const iso = values.startedAt.toISOString();
  const fields: Record<BackupKeyField, string> = {
    engine: values.engine,
    database: values.database === GLOBALS_NAME ? GLOBALS_NAME : encodeDatabaseName(values.database),
    timestamp: formatTimestamp(values.startedAt),
    ext: values.ext,
    yyyy: iso.slice(0, 4),
    MM: iso.slice(5, 7),
    dd: iso.slice(8, 10),
    HH: iso.slice(11, 13),
  };
  return (
    prefixFolder(prefix) +
    template.replace(/\{([^}]*)\}/g, (_, name: string) => fields[name as BackupKeyField])
  );
}

/**
 * The longest key prefix every backup of this engine and database shares under `template`:
 * what to list to find them. The template up to its first time field, cut after the last `/`.
 */
export function backupListPrefix(
  prefix: string,
  template: string,
  engine: string,
  database: string | undefined,
): string {
  let fixed = '';
  for (const { text, name } of templateParts(template)) {
    if (name === undefined) {
      fixed += text;
      continue;
    }
    if (TIME_FIELDS.has(name) || name === 'ext') break;
    if (name === 'database') {
      if (database === undefined) break;
      fixed += database === GLOBALS_NAME ? GLOBALS_NAME : encodeDatabaseName(database);
    } else if (name === 'engine') {
      fixed += engine;
    }
  }
  const slash = fixed.lastIndexOf('/');
  return prefixFolder(prefix) + (slash === -1 ? '' : fixed.slice(0, slash + 1));
}

/** A template's parts in order: fixed text, or a `{name}` placeholder (`name` set). */
function* templateParts(template: string): Generator<{ text: string; name?: string }> {
  for (const text of template.split(/(\{[^}]*\})/)) {
    const m = /^\{([^}]*)\}$/.exec(text);
    yield m ? { text, name: m[1]! } : { text };
  }
}

/** `text` as a literal in a regular expression. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The `{ext}` of a backup: the dump's (`dump`, `sql`), then compression's, then `.age`. */
const EXT_PATTERN = `(?:dump|sql)(?:${CODECS.map((c) => literal(codecExtension(c))).join('|')})(?:${literal(AGE_EXTENSION)})?`;

/** What each time field renders as (see `renderBackupKey`). */
const FIELD_PATTERNS: Record<string, string> = {
  timestamp: '\\d{8}T\\d{6}\\.\\d{3}Z',
  yyyy: '\\d{4}',
  MM: '\\d{2}',
  dd: '\\d{2}',
  HH: '\\d{2}',
  ext: EXT_PATTERN,
};

/**
 * Matches exactly the keys `renderBackupKey` gives under `prefix` and `template` for this
 * engine and database (undefined: any database, `@globals` included): what retention may take
 * for a backup object even when its manifest is missing. Never matches a manifest's key.
 */
export function backupKeyPattern(
  prefix: string,
  template: string,
  engine: string,
  database: string | undefined,
): RegExp {
  let source = '';
  for (const { text, name } of templateParts(template)) {
    if (name === undefined) source += literal(text);
    else if (name === 'engine') source += literal(engine);
    else if (name === 'database') {
      source +=
        database === undefined
          ? '[^/]+'
          : literal(database === GLOBALS_NAME ? GLOBALS_NAME : encodeDatabaseName(database));
    } else source += FIELD_PATTERNS[name] ?? literal(text);
  }
  return new RegExp(`^${literal(prefixFolder(prefix))}${source}$`);
}
