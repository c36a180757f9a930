import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  engines: { node: string };
  scripts: Record<string, string>;
};

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Runs the check as `npm test` does, in a copy of the project whose engines range is `range`. */
function checkWith(range: string) {
  const dir = mkdtempSync(join(tmpdir(), 's3worker-check-node-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(new URL('scripts/check-node.mjs', root), join(dir, 'scripts/check-node.mjs'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ engines: { node: range } }));
  return spawnSync(process.execPath, [join(dir, 'scripts/check-node.mjs')], { encoding: 'utf8' });
}

describe('npm test on the wrong Node.js', () => {
  it('runs the check before the tests', () => {
    expect(pkg.scripts.pretest).toBe('node scripts/check-node.mjs');
  });

  it('passes quietly on a Node.js inside the engines range', () => {
    const run = checkWith(pkg.engines.node);
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
  });

  it('fails with one line naming the required versions, this one, and how to get one', () => {
    const major = Number(process.versions.node.split('.')[0]);
    const range = `^${major + 1}.0.0 || ^${major + 3}.2.0`;
    const run = checkWith(range);
    expect(run.status).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`needs Node.js ${range}`);
    expect(lines[0]).toContain(`not ${process.version}`);
    expect(lines[0]).toContain('scripts/ensure-node.sh');
  });

  it('compares minor and patch versions within a major', () => {
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    expect(checkWith(`^${major}.${minor + 1}.0`).status).toBe(1);
    expect(checkWith(`^${major}.${Math.max(minor - 1, 0)}.0`).status).toBe(0);
  });
});
