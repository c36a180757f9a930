import type { Logger } from 'pino';
import type { S3Sender } from '../../s3/s3-sender.js';
import { listBackups } from './backup-catalog.js';
import { backupListPrefix } from './backup-key.js';

/** Options of {@link lastGoodBackup}. */
export interface LastGoodBackupOptions {
  bucket: string;
  /** The output prefix (as `--output` gives it). */
  prefix: string;
  keyTemplate: string;
  engine: string;
  /**
   * The databases the run covers; undefined: every database that has backups under the prefix
   * (`--all-databases` when the run failed before it listed the server's).
   */
  databases: readonly string[] | undefined;
  /** Databases left out of an undefined `databases` (`--exclude-database`). */
  exclude: readonly string[];
  /** When this run's own backups were finished (epoch ms), by database: not read again. */
  made: ReadonlyMap<string, number>;
  signal: AbortSignal;
  log: Logger;
}

/** What {@link lastGoodBackup} found. */
export type LastGoodBackup =
  /** Every database has a good backup; `at` is when the oldest of their newest was finished. */
  | { at: number; database: string; missing?: undefined }
  /** These databases have no good backup at all (empty: no database found under the prefix). */
  | { at?: undefined; missing: string[] };

/**
 * The newest good backup of each database the run covers — a backup with a valid manifest, as
 * restore and retention count them (see `listBackups`) — and the oldest of those: the age
 * `LastGoodBackupAgeSeconds` reports, so one database that keeps failing shows even when the
 * others succeed. Databases this run backed up are taken from `made` without a request; each
 * other one costs a listing of its folder and a GetObject per manifest. Globals dumps do not
 * count. Throws what the catalogue read threw.
 */
export async function lastGoodBackup(
  s3: S3Sender,
  options: LastGoodBackupOptions,
): Promise<LastGoodBackup> {
  const { bucket, prefix, keyTemplate, engine, signal, log } = options;
  const newest = new Map<string, number | undefined>();
  const read = async (database: string | undefined) => {
    const entries = await listBackups(s3, {
      bucket,
      prefix: backupListPrefix(prefix, keyTemplate, engine, database),
      engine,
      kind: 'database',
      ...(database !== undefined ? { database } : {}),
      signal,
      log,
    });
    for (const e of entries) {
      const at = Date.parse(e.manifest.finishedAt);
      newest.set(e.manifest.database, Math.max(newest.get(e.manifest.database) ?? at, at));
    }
  };
  if (options.databases === undefined) {
    await read(undefined);
    for (const name of options.exclude) newest.delete(name);
  } else {
    for (const name of options.databases) {
      if (!options.made.has(name)) {
        newest.set(name, undefined);
        await read(name);
      }
    }
  }
  for (const [name, at] of options.made) newest.set(name, Math.max(newest.get(name) ?? at, at));

  const missing = [...newest].filter(([, at]) => at === undefined).map(([name]) => name);
  if (missing.length > 0 || newest.size === 0) return { missing };
  let oldest: { at: number; database: string } | undefined;
  for (const [database, at] of newest) {
    if (oldest === undefined || at! < oldest.at) oldest = { at: at!, database };
  }
  return oldest!;
}
