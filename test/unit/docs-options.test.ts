/**
 * The options tables of docs/ against the schemas they document. Each table is rendered from
 * the schema (test/support/options-table.ts); after changing an option, rewrite the tables with
 *
 *   S3WORKER_UPDATE_DOCS=1 npx vitest run test/unit/docs-options.test.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { awsOptionsSchema } from '../../src/config/aws-options.js';
import { describeFields, type OptionField } from '../../src/config/option-fields.js';
import { runtimeOptionsSchema } from '../../src/config/runtime-options.js';
import { transferOptionsSchema } from '../../src/config/transfer-options.js';
import { enqueueConfigSchema } from '../../src/jobs/enqueue/config.js';
import { shipLogsConfigSchema } from '../../src/jobs/ship-logs/config.js';
import { streamTransformConfigSchema } from '../../src/jobs/stream-transform/config.js';
import {
  optionBlocks,
  optionCells,
  renderOptionBlocks,
  TABLE_HEAD,
} from '../support/options-table.js';

/** The options of the transfer layer (part sizes, parallelism, the byte budget). */
const TRANSFER_KEYS = new Set(Object.keys(transferOptionsSchema.shape));
const AWS_KEYS = new Set(Object.keys(awsOptionsSchema.shape));

const runtimeFields = describeFields(runtimeOptionsSchema);
const jobFields = describeFields(streamTransformConfigSchema);
const transferFields = runtimeFields.filter((f) => TRANSFER_KEYS.has(f.key));

/** Each table: the page it is on, and the options it lists, in schema order. */
const TABLES: Record<string, { page: string; fields: OptionField[] }> = {
  runtime: {
    page: 'docs/configuration.md',
    fields: runtimeFields.filter((f) => !AWS_KEYS.has(f.key) && !TRANSFER_KEYS.has(f.key)),
  },
  aws: {
    page: 'docs/configuration.md',
    fields: runtimeFields.filter((f) => AWS_KEYS.has(f.key)),
  },
  transfer: { page: 'docs/configuration.md', fields: transferFields },
  'stream-transform': { page: 'docs/stream-transform.md', fields: jobFields },
  'ship-logs': { page: 'docs/ship-logs.md', fields: describeFields(shipLogsConfigSchema) },
  enqueue: { page: 'docs/queue-mode.md', fields: describeFields(enqueueConfigSchema) },
};

const pages = [...new Set(Object.values(TABLES).map((t) => t.page))];
const root = new URL('../../', import.meta.url);

if (process.env.S3WORKER_UPDATE_DOCS === '1') {
  for (const page of pages) {
    const file = new URL(page, root);
    const tables = Object.fromEntries(
      Object.entries(TABLES)
        .filter(([, t]) => t.page === page)
        .map(([name, t]) => [name, t.fields]),
    );
    writeFileSync(file, renderOptionBlocks(readFileSync(file, 'utf8'), tables));
  }
}

/** The rows of a table, each split into its cells (a `\|` inside a cell does not split it). */
function rows(block: string): string[][] {
  return block
    .trim()
    .split('\n')
    .slice(2)
    .map((line) =>
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}

describe.each(Object.entries(TABLES))('the "%s" options table', (name, { page, fields }) => {
  const block = optionBlocks(readFileSync(new URL(page, root), 'utf8')).get(name);

  it(`is on ${page}`, () => {
    expect(block, `<!-- options: ${name} --> in ${page}`).toBeDefined();
    expect(block?.startsWith(`${TABLE_HEAD}\n`)).toBe(true);
  });

  it('has a row per option with its flag, environment name, schema default and description', () => {
    const table = rows(block ?? '');
    for (const field of fields) {
      const [flag, env, byDefault, meaning] = optionCells(field);
      const row = table.find((r) => r[0] === flag);
      expect(row, `${field.flag} in ${page}`).toBeDefined();
      expect(row?.[1], field.flag).toBe(env);
      expect(row?.[2], `${field.flag} default`).toBe(byDefault);
      expect(row?.[3], `${field.flag} meaning`).toBe(meaning);
    }
  });

  it('lists no option the schema does not have, in schema order', () => {
    expect(rows(block ?? '').map((r) => r[0])).toEqual(fields.map((f) => optionCells(f)[0]));
  });
});

describe('the transfer options', () => {
  it('are options every job shares, each in the transfer table and nowhere else', () => {
    expect(transferFields.map((f) => f.key).sort()).toEqual([...TRANSFER_KEYS].sort());
    const everyRow = Object.entries(TABLES)
      .filter(([name]) => name !== 'transfer')
      .flatMap(([name, t]) =>
        rows(optionBlocks(readFileSync(new URL(t.page, root), 'utf8')).get(name) ?? ''),
      );
    for (const field of transferFields) {
      expect(everyRow.map((r) => r[1])).not.toContain(`\`${field.env}\``);
    }
  });
});
