import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { policyCommand, registerPolicyCommand } from '../../src/cli/commands/policy.js';
import { PolicyCheckExitCode } from '../../src/policy/policy-check-exit-code.js';
import { FINDING_KINDS } from '../../src/policy/statement-breadth.js';

const doc = readFileSync(join(import.meta.dirname, '../../docs/policy.md'), 'utf8');

/** The text of one `###`/`##` section of docs/policy.md, up to the next heading of any level. */
function section(title: string): string {
  const start = doc.indexOf(`${title}\n`);
  expect(start, `docs/policy.md section "${title}"`).toBeGreaterThan(-1);
  const end = doc.slice(start + title.length).search(/\n#{2,3} /);
  return doc.slice(start, end === -1 ? undefined : start + title.length + end);
}

afterEach(() => vi.restoreAllMocks());

describe('docs/policy.md matches the code', () => {
  it('lists every exit code of policy --check', () => {
    const text = section('### Exit codes of `--check`');
    const names: Record<keyof typeof PolicyCheckExitCode, string> = {
      Fits: 'fits',
      Broader: 'broader',
      CannotTell: 'cannot tell',
      Missing: 'missing',
    };
    for (const [key, code] of Object.entries(PolicyCheckExitCode)) {
      expect(text, key).toMatch(
        new RegExp(`^\\| ${code} \\| \\*\\*${names[key as keyof typeof names]}\\*\\*`, 'm'),
      );
    }
  });

  it('describes every finding kind', () => {
    const text = section('### What it reports');
    for (const kind of Object.keys(FINDING_KINDS)) expect(text, kind).toContain(`\`${kind}\``);
  });

  it('shows the report the command prints for the example role policy', async () => {
    const text = section('### What it reports');
    const input = /```json\n([\s\S]*?)```/.exec(text)?.[1];
    const shown = /prints \(exit code (\d+)\):\n\n```\n([\s\S]*?)```/.exec(text);
    expect(input).toBeDefined();
    expect(shown).not.toBeNull();
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((c) => {
      out.push(String(c));
      return true;
    });
    const code = await policyCommand(
      [
        'stream-transform',
        '--input',
        's3://in-bucket/logs/',
        '--output',
        's3://out-bucket/gz/',
        '--sweep-age',
        '0',
      ],
      { check: ['-'] },
      {},
      { readStdin: async () => input! },
    );
    vi.restoreAllMocks();
    expect(code).toBe(Number(shown![1]));
    expect(out.join('')).toBe(shown![2]);
  });

  it('--help names --check, its exit codes and the network conditions', () => {
    const program = new Command('s3worker');
    registerPolicyCommand(program);
    const help = program.commands.find((c) => c.name() === 'policy')!.helpInformation();
    for (const flag of [
      '--check <file>',
      '--json',
      '--source-vpce <id>',
      '--source-vpc <id>',
      '--source-ip <cidr>',
      '--deny-insecure-transport',
    ]) {
      expect(help).toContain(flag);
    }
    expect(help.replace(/\s+/g, ' ')).toContain(
      'Exit codes: 0 fits exactly, 20 broader than needed, 21 cannot tell, 22 missing permissions, 2 usage or config error.',
    );
    expect(help.replace(/\s+/g, ' ')).toContain(
      '--source-ip does not apply to traffic through a VPC endpoint',
    );
  });
});
