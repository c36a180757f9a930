#!/usr/bin/env node
// Regenerates the IAM documents under deploy/ with the built CLI (`npm run build` first), and
// the top-level task definition of the main job:
//   deploy/<dir>/policy.json  ← s3worker policy <job> --config deploy/<dir>/config.json
//                               (<job> is the config's "job", else <dir>)
//   deploy/trust-policy.json  ← s3worker policy --trust
//   task-definition.json      ← deploy/stream-transform/task-definition.json (the main job's)
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

/** The job whose task definition is also the repository's top-level task-definition.json. */
const MAIN_JOB = 'stream-transform';

/** The CLI's policy JSON. */
function policy(args) {
  return execFileSync(process.execPath, [cli, 'policy', ...args], {
    cwd: root,
    env,
    encoding: 'utf8',
  });
}

/** JSON laid out as the repository's formatter (Biome) wants it, so lint passes. */
function format(json, file) {
  return execFileSync(
    process.execPath,
    [join(root, 'node_modules/@biomejs/biome/bin/biome'), 'format', `--stdin-file-path=${file}`],
    { cwd: root, input: json, encoding: 'utf8' },
  );
}

const outputs = [
  { file: join(deploy, 'trust-policy.json'), json: () => policy(['--trust']) },
  {
    file: join(root, 'task-definition.json'),
    json: () => readFileSync(join(deploy, MAIN_JOB, 'task-definition.json'), 'utf8'),
  },
];
for (const entry of readdirSync(deploy, { withFileTypes: true })) {
  const config = join(deploy, entry.name, 'config.json');
  if (entry.isDirectory() && existsSync(config)) {
    // A folder is named after its job unless its config names the job (one job, two setups).
    const job = JSON.parse(readFileSync(config, 'utf8')).job ?? entry.name;
    outputs.push({
      file: join(deploy, entry.name, 'policy.json'),
      json: () => policy([job, '--config', relative(root, config)]),
    });
  }
}

const stale = [];
for (const { file, json } of outputs) {
  const text = format(json(), file);
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
