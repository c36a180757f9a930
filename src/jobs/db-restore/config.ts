import { z } from 'zod';
import { s3UrlSchema } from '../../config/s3-location.js';
import type { ConfigIssue } from '../../errors.js';
import { keyTemplateSchema } from '../db-backup/config.js';
import { connectionOptionsSchema } from '../db-backup/connection-options.js';
import { databaseNameProblem } from '../db-backup/engines/engine.js';

/** Default `identityEnv`: the variable holding the age identity (an ECS secret). */
export const DEFAULT_IDENTITY_ENV = 'AGE_IDENTITY';

const isoDate = z.string().transform((text, ctx): Date => {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({
      code: 'custom',
      message: `not a date: ${JSON.stringify(text)} (use ISO 8601, e.g. 2026-01-31T12:00:00Z)`,
      input: text,
    });
    return z.NEVER;
  }
  return date;
});

/**
 * Options of the db-restore job: the connection (see `connectionOptionsSchema`), which backup,
 * and how it is applied.
 */
export const databaseRestoreConfigSchema = connectionOptionsSchema.extend({
  input: s3UrlSchema.describe(
    'Where the backups are: the s3://bucket/prefix given to db-backup --output. Required.',
  ),
  database: z
    .string()
    .describe(
      'Target database to restore into (write --database=NAME for a name starting with -). Required.',
    ),
  fromDatabase: z
    .string()
    .optional()
    .describe(
      'The backed-up database whose backups to choose from (@globals for PostgreSQL globals). Default: the target name.',
    ),
  at: isoDate
    .optional()
    .describe(
      'Restore the newest backup started at or before this ISO 8601 time. Default: the newest backup.',
    ),
  key: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Restore exactly this backup: its full key in the input bucket (it must have a manifest). Default: choose by --at or the newest.',
    ),
  keyTemplate: keyTemplateSchema,
  createDatabase: z
    .boolean()
    .default(false)
    .describe('Create the target database when it does not exist. Default false (it must exist).'),
  clean: z
    .boolean()
    .default(false)
    .describe(
      'PostgreSQL custom format: drop each object before recreating it (pg_restore --clean --if-exists). Default false.',
    ),
  noOwner: z
    .boolean()
    .default(false)
    .describe(
      'PostgreSQL custom format: do not restore ownership (pg_restore --no-owner), e.g. into another cluster. Default false.',
    ),
  ignoreGlobalsErrors: z
    .boolean()
    .default(false)
    .describe(
      'PostgreSQL @globals: exit 0 even when statements of the roles and tablespaces script failed (each is logged as a warning). Default false: a failed statement fails the restore (exit 3); CREATE ROLE of a role that exists already is not a failure.',
    ),
  identityFile: z
    .string()
    .min(1)
    .optional()
    .describe(
      'age identity file (AGE-SECRET-KEY-1..., like age -i) for encrypted backups. Default: the variable named by --identity-env.',
    ),
  identityEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
    .default(DEFAULT_IDENTITY_ENV)
    .describe(
      `Environment variable holding the age identity text (an ECS secret). Default ${DEFAULT_IDENTITY_ENV}.`,
    ),
  verifyOnly: z
    .boolean()
    .default(false)
    .describe(
      'Choose the backup and verify it (SHA-256, decryption, decompression) without touching any database. Default false.',
    ),
});

/** The parsed options of the db-restore job. */
export type DatabaseRestoreConfig = z.infer<typeof databaseRestoreConfigSchema>;

/** Checks across fields; empty when the config is consistent. */
export function restoreConfigProblems(config: DatabaseRestoreConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const problem = databaseNameProblem(config.database);
  if (problem !== undefined) issues.push({ path: 'database', message: problem });
  if (config.key !== undefined && config.at !== undefined) {
    issues.push({ path: 'at', message: 'give either --key or --at' });
  }
  if (config.engine === 'mysql' && (config.clean || config.noOwner)) {
    issues.push({
      path: config.clean ? 'clean' : 'noOwner',
      message: 'is PostgreSQL only (a MySQL dump drops and recreates its tables itself)',
    });
  }
  if (config.engine === 'mysql' && config.ignoreGlobalsErrors) {
    issues.push({
      path: 'ignoreGlobalsErrors',
      message: 'is PostgreSQL only (MySQL backups have no @globals)',
    });
  }
  return issues;
}
