import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import { explainS3Error } from '../../s3/explain-error.js';
import type { S3Sender } from '../../s3/s3-sender.js';
import type { CatalogEntry, OrphanObject } from './backup-catalog.js';

/** The retention rules; a backup is kept when any rule keeps it. */
export interface RetentionPolicy {
  /** Keep the newest N backups of each database. */
  keepLast?: number;
  /** Keep every backup started within the last D days. */
  keepDays?: number;
}

/** What retention decided for one database's backups. */
export interface RetentionPlan {
  keep: CatalogEntry[];
  remove: CatalogEntry[];
}

const DAY_MS = 86_400_000;

/**
 * Which of one database's backups (each with a manifest: failed dumps left none and do not
 * count) the policy removes. A backup is kept when it is among the newest `keepLast`, or was
 * started less than `keepDays` ago; the newest backup is always kept, whatever the rules say,
 * so retention can never leave a database without a good backup. No rule given: keep all.
 */
export function planRetention(
  entries: readonly CatalogEntry[],
  policy: RetentionPolicy,
  now: Date,
): RetentionPlan {
  const newestFirst = [...entries].sort(
    (a, b) =>
      b.manifest.startedAt.localeCompare(a.manifest.startedAt) || b.key.localeCompare(a.key),
  );
  if (policy.keepLast === undefined && policy.keepDays === undefined) {
    return { keep: newestFirst, remove: [] };
  }
  const keep: CatalogEntry[] = [];
  const remove: CatalogEntry[] = [];
  newestFirst.forEach((entry, index) => {
    const age = now.getTime() - Date.parse(entry.manifest.startedAt);
    const kept =
      index === 0 ||
      (policy.keepLast !== undefined && index < policy.keepLast) ||
      (policy.keepDays !== undefined && age < policy.keepDays * DAY_MS);
    (kept ? keep : remove).push(entry);
  });
  return { keep, remove };
}

/**
 * Deletes the backups `plan.remove` names: the manifest first (from then on the backup no
 * longer counts anywhere), then the object. With `dryRun` only logs what would go.
 * @returns how many backups were removed (or would be).
 */
export async function applyRetention(
  s3: S3Sender,
  plan: RetentionPlan,
  options: { dryRun: boolean; log: Logger; signal: AbortSignal },
): Promise<number> {
  const { log, signal } = options;
  for (const entry of plan.remove) {
    const fields = {
      bucket: entry.bucket,
      key: entry.key,
      database: entry.manifest.database,
      startedAt: entry.manifest.startedAt,
    };
    if (options.dryRun) {
      log.info(fields, 'retention would delete backup');
      continue;
    }
    for (const key of [entry.manifestKey, entry.key]) {
      await deleteObject(s3, entry.bucket, key, signal);
    }
    log.info(fields, 'retention deleted backup');
  }
  return plan.remove.length;
}

/**
 * The orphans (backup objects without a manifest) older than `olderThan` ms; 0: none. A younger
 * one may be the backup of a run still writing its manifest, so it waits for a later run.
 */
export function staleOrphans(
  orphans: readonly OrphanObject[],
  olderThan: number,
  now: Date,
): OrphanObject[] {
  if (olderThan === 0) return [];
  return orphans.filter((o) => now.getTime() - o.lastModified.getTime() > olderThan);
}

/**
 * Deletes `orphans` (with `dryRun` only logs them). An orphan has no manifest, so it is never
 * a backup retention counts, the newest good one included.
 * @returns how many were deleted (or would be).
 */
export async function deleteOrphans(
  s3: S3Sender,
  orphans: readonly OrphanObject[],
  options: { dryRun: boolean; log: Logger; signal: AbortSignal },
): Promise<number> {
  const { log, signal } = options;
  for (const orphan of orphans) {
    const fields = {
      bucket: orphan.bucket,
      key: orphan.key,
      lastModified: orphan.lastModified.toISOString(),
    };
    if (options.dryRun) {
      log.info(fields, 'retention would delete a backup object without a manifest');
      continue;
    }
    await deleteObject(s3, orphan.bucket, orphan.key, signal);
    log.info(fields, 'retention deleted a backup object without a manifest');
  }
  return orphans.length;
}

/** DeleteObject, its failure explained. */
async function deleteObject(
  s3: S3Sender,
  bucket: string,
  key: string,
  signal: AbortSignal,
): Promise<void> {
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
  } catch (err) {
    if (signal.aborted) throw err;
    throw explainS3Error(err, { action: 'DeleteObject', bucket, key });
  }
}
