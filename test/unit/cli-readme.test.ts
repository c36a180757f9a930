import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeFields } from '../../src/config/option-fields.js';
import { runtimeOptionsSchema } from '../../src/config/runtime-options.js';
import { ExitCode } from '../../src/errors.js';

const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');

/** The text of one `## ` section of the README. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, `README section "${title}"`).toBeGreaterThan(-1);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

describe('README matches the code', () => {
  it('the shared-options table has a row per runtime option with its env name and default', () => {
    const rows = section('Configuration')
      .split('\n')
      .filter((l) => l.startsWith('| `'));
    for (const field of describeFields(runtimeOptionsSchema)) {
      const row = rows.find(
        (r) => r.includes(`\`${field.flag} `) || r.includes(`\`${field.flag}\``),
      );
      expect(row, field.flag).toBeDefined();
      const cells = row!.split('|').map((c) => c.trim());
      expect(cells[2], field.flag).toBe(`\`${field.env}\``);
      expect(cells[3], field.flag).toBe(field.defaultText ?? '');
    }
  });

  it('the exit-code table lists every code of src/errors.ts', () => {
    const text = section('Exit codes');
    for (const [name, code] of Object.entries(ExitCode)) {
      expect(text, name).toMatch(new RegExp(`^\\| ${code} \\| ${name} \\|`, 'm'));
    }
  });
});
