import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policyProblems } from '../../src/policy/policy-problems.js';
import { ensureBuilt } from '../support/run-cli.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;

/** Runs scripts/gen-deploy.mjs (needs `npm run build`) from `dir`; exit code and stderr. */
async function genDeploy(dir: string, args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const out = await run(process.execPath, [join(dir, 'scripts/gen-deploy.mjs'), ...args], {
      cwd: dir,
      // A shell's S3WORKER_* must not change the generated policy; the script strips them.
      env: { ...process.env, S3WORKER_INPUT: 's3://elsewhere/' },
    });
    return { code: 0, stderr: out.stderr };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? -1, stderr: e.stderr ?? '' };
  }
}

describe('deploy/', () => {
  const copies: string[] = [];
  // scripts/gen-deploy.mjs runs the built CLI.
  beforeAll(() => ensureBuilt());
  afterAll(() => {
    for (const c of copies) rmSync(c, { recursive: true, force: true });
  });

  it('holds the IAM documents and top-level task definition gen-deploy writes now (regenerated and compared)', async () => {
    const r = await genDeploy(root, ['--check']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it.each([
    [
      'a committed policy',
      'deploy/stream-transform/policy.json',
      (doc: { Statement: Array<{ Resource: unknown }> }) => {
        doc.Statement[0]!.Resource = ['arn:aws:s3:::*'];
      },
    ],
    [
      'the top-level task definition',
      'task-definition.json',
      (doc: { cpu: string }) => {
        doc.cpu = '4096';
      },
    ],
  ])('fails the check, naming the file, when %s differs', async (_what, path, change) => {
    const copy = mkdtempSync(join(tmpdir(), 's3worker-deploy-'));
    copies.push(copy);
    for (const part of ['deploy', 'scripts', 'dist', 'package.json', 'task-definition.json']) {
      cpSync(join(root, part), join(copy, part), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
    const file = join(copy, path);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    change(doc);
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    const r = await genDeploy(copy, ['--check']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(path);
  });

  it.each(['stream-transform', 'stream-transform-queue'])(
    'has valid IAM JSON for %s and a valid trust policy',
    (job) => {
      const policy = JSON.parse(readFileSync(join(root, `deploy/${job}/policy.json`), 'utf8'));
      expect(policyProblems(policy, 'identity')).toEqual([]);
      const trust = JSON.parse(readFileSync(join(root, 'deploy/trust-policy.json'), 'utf8'));
      expect(policyProblems(trust, 'trust')).toEqual([]);
    },
  );
});
