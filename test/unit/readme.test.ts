import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('the README, for a newcomer', () => {
  it('stays short: at most 250 lines, the details in docs/', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
  });

  it('gives the two commands that set up and test a fresh clone', () => {
    expect(readme).toContain('```sh\nnpm ci\nnpm test\n```');
  });

  it('shows the code map before the commands', () => {
    const map = readme.indexOf('\n## Code map\n');
    expect(map).toBeGreaterThan(-1);
    expect(map).toBeLessThan(readme.indexOf('\n## Commands\n'));
  });
});
