// Runs before `npm test` (the "pretest" script): a Node.js outside package.json's "engines"
// range would otherwise crash inside the test runner with an unrelated message. Plain syntax
// only, so that old versions can run it far enough to say what is wrong.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/**
 * True when `version` (as `process.version`, with or without the `v`) is inside `range`, a set
 * of caret ranges joined by `||` such as `^22.15.0 || ^24.0.0` (the only form package.json uses).
 */
export function nodeSatisfies(version, range) {
  const have = parse(version);
  if (!have) return false;
  return range.split('||').some((part) => {
    const text = part.trim();
    if (!text.startsWith('^')) throw new Error(`unsupported engines range: ${text}`);
    const want = parse(text.slice(1));
    if (!want) throw new Error(`unsupported engines range: ${text}`);
    if (have[0] !== want[0]) return false;
    if (have[1] !== want[1]) return have[1] > want[1];
    return have[2] >= want[2];
  });
}

function parse(text) {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** The one line a wrong Node.js gets, or undefined when this one is fine. */
export function nodeProblem(version, range) {
  if (nodeSatisfies(version, range)) return undefined;
  return (
    `s3worker needs Node.js ${range} (24 is the image's runtime), not ${version}: ` +
    `run PATH="$(scripts/ensure-node.sh):$PATH" npm test (it installs Node.js 24 once), ` +
    'or switch with your version manager (nvm install 24)'
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const problem = nodeProblem(process.version, pkg.engines.node);
  if (problem) {
    console.error(problem);
    process.exit(1);
  }
}
