import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import { explainS3Error } from '../../s3/explain-error.js';
import { listObjects } from '../../s3/list-objects.js';
import type { S3Sender } from '../../s3/s3-sender.js';
import { backupKeyOf, type Manifest, manifestKeyOf, parseManifest } from './manifest.js';

/** One backup found under a prefix: its manifest and where both live. */
export interface CatalogEntry {
  bucket: string;
  /** The backup object's key. */
  key: string;
  manifestKey: string;
  manifest: Manifest;
}

/**
 * A backup object without a manifest beside it: the manifest's PUT failed after the upload
 * completed (or retention deleted the manifest and then failed to delete the object). Never
 * restored; retention deletes it once it is older than --sweep-age.
 */
export interface OrphanObject {
  bucket: string;
  key: string;
  lastModified: Date;
}

/** Options of {@link listBackups}. */
export interface ListBackupsOptions {
  bucket: string;
  /** Key prefix to list (see `backupListPrefix`). */
  prefix: string;
  /** Keep only backups of this engine. */
  engine: string;
  /** Keep only backups of this database (raw name); undefined: every database. */
  database?: string;
  /** Keep only backups of this kind; undefined: both. */
  kind?: 'database' | 'globals';
  signal: AbortSignal;
  log: Logger;
  /**
   * Keys of backup objects (see `backupKeyPattern`): those listed without a manifest come back
   * as orphans. Default: none looked for.
   */
  backupKeys?: RegExp;
}

/** What {@link listCatalog} found under a prefix. */
export interface BackupCatalog {
  /** Backups with a valid manifest, oldest first. */
  entries: CatalogEntry[];
  /** Objects `backupKeys` matches that have no manifest, in key order. */
  orphans: OrphanObject[];
}

/**
 * Every backup with a valid manifest under `prefix`, oldest first (by the dump's start). A
 * manifest that is not ours, names another key, or whose backup object is not listed is left
 * out with a warning: only a backup with a manifest counts. Cost: one listing of the prefix and
 * one GetObject per manifest (a few hundred bytes each).
 */
export async function listBackups(
  s3: S3Sender,
  options: ListBackupsOptions,
): Promise<CatalogEntry[]> {
  return (await listCatalog(s3, options)).entries;
}

/**
 * {@link listBackups}, and the backup objects under `prefix` that have no manifest at all
 * (`options.backupKeys`). An object whose manifest is there but unreadable is neither: it is
 * left alone.
 */
export async function listCatalog(
  s3: S3Sender,
  options: ListBackupsOptions,
): Promise<BackupCatalog> {
  const { bucket, prefix, signal, log } = options;
  const objects = new Map<string, Date>();
  const manifestKeys: string[] = [];
  try {
    for await (const o of listObjects(s3, { bucket, prefix, signal })) {
      if (backupKeyOf(o.key) !== undefined) manifestKeys.push(o.key);
      else objects.set(o.key, o.lastModified);
    }
  } catch (err) {
    if (signal.aborted) throw err;
    throw explainS3Error(err, { action: 'ListObjectsV2', bucket, key: prefix });
  }
  const orphans: OrphanObject[] = [];
  if (options.backupKeys !== undefined) {
    const withManifest = new Set(manifestKeys);
    for (const [key, lastModified] of objects) {
      if (!withManifest.has(manifestKeyOf(key)) && options.backupKeys.test(key)) {
        orphans.push({ bucket, key, lastModified });
      }
    }
  }
  const entries: CatalogEntry[] = [];
  for (const manifestKey of manifestKeys) {
    const key = backupKeyOf(manifestKey)!;
    const body = await readSmall(s3, bucket, manifestKey, signal);
    const parsed = parseManifest(body);
    if (parsed.manifest === undefined) {
      log.warn(
        { bucket, key: manifestKey, problem: parsed.problem },
        'ignoring an unreadable manifest',
      );
      continue;
    }
    const m = parsed.manifest;
    if (m.key !== key || m.bucket !== bucket) {
      log.warn(
        { bucket, key: manifestKey, names: m.key },
        'ignoring a manifest that names another object',
      );
      continue;
    }
    if (!objects.has(key)) {
      log.warn({ bucket, key }, 'ignoring a manifest whose backup object is missing');
      continue;
    }
    if (m.engine !== options.engine) continue;
    if (options.database !== undefined && m.database !== options.database) continue;
    if (options.kind !== undefined && m.kind !== options.kind) continue;
    entries.push({ bucket, key, manifestKey, manifest: m });
  }
  entries.sort(
    (a, b) =>
      a.manifest.startedAt.localeCompare(b.manifest.startedAt) || a.key.localeCompare(b.key),
  );
  return { entries, orphans };
}

/** The whole body of a small object. */
export async function readSmall(
  s3: S3Sender,
  bucket: string,
  key: string,
  signal: AbortSignal,
): Promise<Buffer> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: signal,
    });
    const bytes = await res.Body!.transformToByteArray();
    return Buffer.from(bytes);
  } catch (err) {
    if (signal.aborted) throw err;
    throw explainS3Error(err, { action: 'GetObject', bucket, key });
  }
}
