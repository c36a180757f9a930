#!/usr/bin/env node
// Regenerates the IAM documents under deploy/ with the built CLI (`npm run build` first):
//   deploy/<job>/policy.json  ← s3worker policy <job> --config deploy/<job>/config.json
//   deploy/trust-policy.json  ← s3worker policy --trust
// With --check it writes nothing and exits 1 when a committed file differs from what the
// CLI generates now (CI runs this through test/integration/deploy.test.ts).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const deploy = join(root, 'deploy');
const cli = join(root, 'dist', 'cli', 'main.js');
const check = process.argv.includes('--check');

if (!existsSync(cli)) {
  console.error(`${relative(root, cli)} is missing: run \`npm run build\` first`);
  process.exit(2);
}

// The generated policy must depend on config.json alone, not on S3WORKER_* in this shell.
const env = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.startsWith('S3WORKER_')),
);

/** The CLI's JSON, laid out as the repository's formatter (Biome) wants it, so lint passes. */
function generate(args, file) {
  const json = execFileSync(process.execPath, [cli, 'policy', ...args], {
    cwd: root,
    env,
    encoding: 'utf8',
  });
  return execFileSync(
    process.execPath,
    [join(root, 'node_modules/@biomejs/biome/bin/biome'), 'format', `--stdin-file-path=${file}`],
    { cwd: root, input: json, encoding: 'utf8' },
  );
}

const outputs = [{ file: join(deploy, 'trust-policy.json'), args: ['--trust'] }];
for (const entry of readdirSync(deploy, { withFileTypes: true })) {
  const config = join(deploy, entry.name, 'config.json');
  if (entry.isDirectory() && existsSync(config)) {
    outputs.push({
      file: join(deploy, entry.name, 'policy.json'),
      args: [entry.name, '--config', relative(root, config)],
    });
  }
}

const stale = [];
for (const { file, args } of outputs) {
  const text = generate(args, file);
  const current = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (current === text) continue;
  if (check) stale.push(relative(root, file));
  else {
    writeFileSync(file, text);
    console.error(`wrote ${relative(root, file)}`);
  }
}
if (stale.length > 0) {
  console.error(
    `out of date (regenerate with \`npm run build && node scripts/gen-deploy.mjs\`): ${stale.join(', ')}`,
  );
  process.exit(1);
}
