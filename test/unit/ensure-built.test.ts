import {
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from '../support/run-cli.js';

/** A repository of one file, src/cli/main.ts, built by the real tsc into dist/cli/main.js. */
function tinyRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), 's3worker-ensure-built-'));
  mkdirSync(join(dir, 'src/cli'), { recursive: true });
  mkdirSync(join(dir, 'dist/cli'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(
    join(dir, 'tsconfig.build.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2023',
        module: 'NodeNext',
        strict: true,
        types: [],
        rootDir: 'src',
        outDir: 'dist',
      },
      include: ['src'],
    }),
  );
  return dir;
}

describe('ensureBuilt, before the CLI tests run dist/', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('fails with tsc output when src/ does not compile, instead of running a stale dist/', () => {
    const dir = tinyRepo();
    dirs.push(dir);
    // A dist/ from an older build, then a source change that does not type-check.
    writeFileSync(join(dir, 'dist/cli/main.js'), 'console.log("stale");\n');
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(dir, 'dist/cli/main.js'), old, old);
    writeFileSync(
      join(dir, 'src/cli/main.ts'),
      'const port: number = "39000";\nexport { port };\n',
    );

    expect(() => ensureBuilt(dir)).toThrow(/npm run build failed[\s\S]*error TS2322/);
    // What tsc wrote despite the error is still out of date: a second call fails too.
    expect(() => ensureBuilt(dir)).toThrow(/error TS2322/);
  });

  it('builds when src/ is newer than dist/, and then leaves it alone', () => {
    const dir = tinyRepo();
    dirs.push(dir);
    writeFileSync(join(dir, 'src/cli/main.ts'), 'export const port: number = 39000;\n');
    ensureBuilt(dir);
    const built = statSync(join(dir, 'dist/cli/main.js')).mtimeMs;
    expect(built).toBeGreaterThanOrEqual(statSync(join(dir, 'src/cli/main.ts')).mtimeMs);
    ensureBuilt(dir);
    expect(statSync(join(dir, 'dist/cli/main.js')).mtimeMs).toBe(built);
  });
});
