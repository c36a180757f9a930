import { z } from 'zod';
import { durationSchema } from '../../config/duration-schema.js';
import { s3UrlSchema } from '../../config/s3-location.js';
import { sizeInRange } from '../../config/size-schema.js';
import type { ConfigIssue } from '../../errors.js';
import { CODECS } from '../kit/compression.js';
import { outputOptionProblems, outputOptionsSchema } from '../kit/output-options.js';
import { recipientSyntaxProblems } from './age-encryption.js';
import { backupKeyTemplateProblems, DEFAULT_BACKUP_KEY_TEMPLATE } from './backup-key.js';
import { connectionOptionsSchema } from './connection-options.js';
import { databaseNameProblem } from './engines/engine.js';

/** Default `minDumpBytes`: an empty database's dump is larger than this with either engine. */
export const DEFAULT_MIN_DUMP_BYTES = 256;

/** The key template option, shared by db-backup and db-restore (they must agree). */
export const keyTemplateSchema = z
  .string()
  .min(1)
  .default(DEFAULT_BACKUP_KEY_TEMPLATE)
  .superRefine((template, ctx) => {
    for (const message of backupKeyTemplateProblems(template)) {
      ctx.addIssue({ code: 'custom', message });
    }
  })
  .describe(
    'Backup key below the prefix: {engine}, {database} (percent-encoded), {timestamp} (20260131T120000.123Z), {ext} (dump.zst, sql.gz.age...), {yyyy}, {MM}, {dd}, {HH}. Must contain {database} and {timestamp}. Default {engine}/{database}/{timestamp}.{ext}.',
  );

/**
 * Options of the db-backup job: the connection (see `connectionOptionsSchema`), what to dump,
 * where it goes, how it is compressed and encrypted, and retention.
 */
export const databaseBackupConfigSchema = connectionOptionsSchema.extend({
  database: z
    .array(z.string())
    .default([])
    .describe(
      'Database to back up; repeat for several (each one object). Names are used verbatim: quote them in the shell, write --database=NAME for a name starting with -.',
    ),
  allDatabases: z
    .boolean()
    .default(false)
    .describe(
      'Back up every database the user can connect to (PostgreSQL: not templates; MySQL: not information_schema, performance_schema, sys, mysql). Default false.',
    ),
  excludeDatabase: z
    .array(z.string())
    .default([])
    .describe('Database to leave out of --all-databases; repeatable. Default: none.'),
  globals: z
    .boolean()
    .default(false)
    .describe(
      'PostgreSQL: also back up roles and tablespaces with pg_dumpall --globals-only, as database @globals (needs a superuser; on managed services whose users cannot read role passwords it fails). Default false.',
    ),
  output: s3UrlSchema.describe(
    'Where backups go: s3://bucket/prefix; each backup is --key-template below the folder the prefix names (s3://b/db and s3://b/db/ both write db/...), with its manifest beside it. Required.',
  ),
  format: z
    .enum(['custom', 'plain'])
    .default('custom')
    .describe(
      'PostgreSQL dump format: custom (pg_restore archive; selective and --clean restores) or plain (SQL for psql). MySQL dumps are always SQL. Default custom.',
    ),
  compression: z
    .enum(CODECS)
    .default('zstd')
    .describe(
      'Compression of the stored dump: zstd (fast, small), gzip (block-parallel) or none. Default zstd.',
    ),
  compressionLevel: z
    .int()
    .min(1)
    .max(22)
    .optional()
    .describe('Compression level: zstd 1-22 (default 3), gzip 1-9 (default 6). Higher costs CPU.'),
  recipient: z
    .array(z.string())
    .default([])
    .describe(
      'Encrypt each backup to this age public key (age1...); repeatable. The backup task then cannot read its own backups: only the holder of the identity (the restore task) can. Default: no encryption.',
    ),
  recipientsFile: z
    .string()
    .min(1)
    .optional()
    .describe('File of age recipients, one per line (# comments), like age -R. Default: none.'),
  keyTemplate: keyTemplateSchema,
  minDumpBytes: sizeInRange({ min: 0 })
    .default(DEFAULT_MIN_DUMP_BYTES)
    .describe(
      `A dump smaller than this is refused as broken even when the tool exited 0. Default ${DEFAULT_MIN_DUMP_BYTES} bytes.`,
    ),
  keepLast: z
    .int()
    .min(1)
    .optional()
    .describe(
      'Retention: keep the newest N backups of each database (only backups with a manifest count). Turns retention on, which needs s3:ListBucket, s3:GetObject and s3:DeleteObject on the prefix. Default: keep all.',
    ),
  keepDays: z
    .number()
    .positive()
    .optional()
    .describe(
      'Retention: keep every backup started within the last D days. With --keep-last, a backup either rule keeps stays. The newest backup is never deleted. Default: keep all.',
    ),
  retentionOnly: z
    .boolean()
    .default(false)
    .describe(
      'Apply retention to the backups of --database (or, with --all-databases, of every database found under the prefix) without dumping anything. Default false.',
    ),
  dryRun: z
    .boolean()
    .default(false)
    .describe('Retention: log which backups would be deleted, delete nothing. Default false.'),
  sweepAge: durationSchema
    .default(24 * 3_600_000)
    .describe(
      'At start, abort incomplete multipart uploads under the prefix started longer ago than this (left by a killed task); with retention, also delete backup objects written longer ago than this that have no manifest (its write failed). 0 turns both off. Default 24h.',
    ),
  ...outputOptionsSchema.shape,
});

/** The parsed options of the db-backup job. */
export type DatabaseBackupConfig = z.infer<typeof databaseBackupConfigSchema>;

/** Checks across fields; empty when the config is consistent. */
export function backupConfigProblems(config: DatabaseBackupConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const retention = config.keepLast !== undefined || config.keepDays !== undefined;
  if (config.database.length === 0 && !config.allDatabases && !config.globals) {
    issues.push({
      path: 'database',
      message: 'name at least one --database, or give --all-databases',
    });
  }
  if (config.database.length > 0 && config.allDatabases) {
    issues.push({ path: 'allDatabases', message: 'give either --database or --all-databases' });
  }
  for (const name of [...config.database, ...config.excludeDatabase]) {
    const problem = databaseNameProblem(name);
    if (problem !== undefined) issues.push({ path: 'database', message: problem });
  }
  if (config.engine === 'mysql') {
    if (config.globals) {
      issues.push({
        path: 'globals',
        message: 'is PostgreSQL only (MySQL users and grants live in the mysql schema)',
      });
    }
    if (config.pgBinDir !== undefined) {
      issues.push({ path: 'pgBinDir', message: 'is PostgreSQL only' });
    }
  }
  if (config.retentionOnly && !retention) {
    issues.push({ path: 'retentionOnly', message: 'needs --keep-last or --keep-days' });
  }
  if (config.dryRun && !retention) {
    issues.push({
      path: 'dryRun',
      message: 'applies to retention: give --keep-last or --keep-days',
    });
  }
  if (config.compression === 'gzip' && (config.compressionLevel ?? 6) > 9) {
    issues.push({ path: 'compressionLevel', message: 'gzip levels are 1-9' });
  }
  if (config.compression === 'none' && config.compressionLevel !== undefined) {
    issues.push({ path: 'compressionLevel', message: 'does not apply with --compression none' });
  }
  for (const message of recipientSyntaxProblems(config.recipient)) {
    issues.push({ path: 'recipient', message });
  }
  issues.push(...outputOptionProblems(config));
  return issues;
}
