import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import { explainS3Error } from '../../s3/explain-error.js';
import type { S3Sender } from '../../s3/s3-sender.js';
import type { CatalogEntry } from './backup-catalog.js';

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
      try {
        await s3.send(new DeleteObjectCommand({ Bucket: entry.bucket, Key: key }), {
          abortSignal: signal,
        });
      } catch (err) {
        if (signal.aborted) throw err;
        throw explainS3Error(err, { action: 'DeleteObject', bucket: entry.bucket, key });
      }
    }
    log.info(fields, 'retention deleted backup');
  }
  return plan.remove.length;
}
