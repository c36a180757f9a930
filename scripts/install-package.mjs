#!/usr/bin/env node
// Installs a packed s3worker (`npm pack` tarball) the way the image does: the package at
// <prefix>/node_modules/s3worker with only its production dependencies, pinned by the repo's
// package-lock.json, and the `s3worker` bin linked at <prefix>/node_modules/.bin/s3worker.
// The Dockerfile's build stage runs this; test/integration/package-install.test.ts runs it too,
// so the test replays the image's install rather than a copy of it.
//
//   node scripts/install-package.mjs <tarball> <prefix> [<package-lock.json>]
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const [tarball, prefix, lockfile = 'package-lock.json'] = process.argv.slice(2);
if (!tarball || !prefix) {
  console.error('usage: node scripts/install-package.mjs <tarball> <prefix> [<package-lock.json>]');
  process.exit(2);
}

const pkgDir = resolve(prefix, 'node_modules', 's3worker');
mkdirSync(pkgDir, { recursive: true });
execFileSync('tar', ['-xzf', resolve(tarball), '-C', pkgDir, '--strip-components=1'], {
  stdio: 'inherit',
});
// npm pack leaves the lockfile out; `npm ci` with it gives the exact versions CI tested.
copyFileSync(resolve(lockfile), join(pkgDir, 'package-lock.json'));
execFileSync(
  'npm',
  ['ci', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline'],
  {
    cwd: pkgDir,
    stdio: 'inherit',
  },
);
rmSync(join(pkgDir, 'package-lock.json'));

const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const binDir = resolve(prefix, 'node_modules', '.bin');
mkdirSync(binDir, { recursive: true });
for (const [name, target] of Object.entries(pkg.bin ?? {})) {
  const file = join(pkgDir, target);
  chmodSync(file, 0o755);
  const link = join(binDir, name);
  rmSync(link, { force: true });
  symlinkSync(relative(dirname(link), file), link);
}
