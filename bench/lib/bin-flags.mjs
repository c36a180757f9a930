import { readFileSync } from 'node:fs';

/**
 * The Node.js flags of the `s3worker` bin's shebang (`#!/usr/bin/env -S node <flags>`, see
 * src/cli/main.ts), so a bench that starts `node dist/cli/main.js` measures what the bin runs.
 */
export function shebangNodeFlags(file) {
  const first = readFileSync(file, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S node((?:\s+--\S+)*)\s*$/.exec(first);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}
