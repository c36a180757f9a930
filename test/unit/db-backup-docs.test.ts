/**
 * The options tables of docs/db-backup.md against the db-backup and db-restore schemas (the
 * same rendering as test/unit/docs-options.test.ts). After changing an option, rewrite them with
 *
 *   S3WORKER_UPDATE_DOCS=1 npx vitest run test/unit/db-backup-docs.test.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeFields } from '../../src/config/option-fields.js';
import { databaseBackupConfigSchema } from '../../src/jobs/db-backup/config.js';
import { databaseRestoreConfigSchema } from '../../src/jobs/db-restore/config.js';
import { optionBlocks, optionsTable, renderOptionBlocks } from '../support/options-table.js';

const page = new URL('../../docs/db-backup.md', import.meta.url);
const tables = {
  'db-backup': describeFields(databaseBackupConfigSchema),
  'db-restore': describeFields(databaseRestoreConfigSchema),
};

if (process.env.S3WORKER_UPDATE_DOCS === '1') {
  writeFileSync(page, renderOptionBlocks(readFileSync(page, 'utf8'), tables));
}

describe('docs/db-backup.md', () => {
  const blocks = optionBlocks(readFileSync(page, 'utf8'));

  it.each(Object.entries(tables))('lists the %s options exactly as --help does', (name, fields) => {
    expect(blocks.get(name)).toBe(optionsTable(fields));
  });
});
