import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const script = new URL('../../scripts/test-totals.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 's3worker-totals-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function report(name: string, body: object): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(body));
  return path;
}

function totals(...files: string[]): string {
  return spawnSync(process.execPath, [script, ...files], { encoding: 'utf8' }).stdout.trim();
}

describe("CI's totals line", () => {
  it('sums the suite and the container tests', () => {
    const suite = report('a.json', { numPassedTests: 700, numFailedTests: 0, success: true });
    const image = report('b.json', { numPassedTests: 12, numFailedTests: 1, success: false });
    expect(totals(suite, image)).toBe('712 passed, 1 failed');
  });

  it('counts a report that is missing (a run that did not finish) as a failure', () => {
    const suite = report('c.json', { numPassedTests: 5, numFailedTests: 0, success: true });
    expect(totals(suite, join(dir, 'never-written.json'))).toBe('5 passed, 1 failed');
  });

  it('counts an unhandled error in a run whose tests all passed', () => {
    const suite = report('d.json', { numPassedTests: 3, numFailedTests: 0, success: false });
    expect(totals(suite)).toBe('3 passed, 1 failed');
  });
});
