import type { NeedVerdict, PolicyCheckReport, PolicyVerdict } from './check-policy.js';

const VERDICT_TEXT: Record<NeedVerdict, string> = {
  granted: 'granted',
  missing: 'MISSING',
  'cannot-tell': 'CANNOT TELL',
};

const SUMMARY: Record<PolicyVerdict, string> = {
  fits: 'fits: every permission the job needs is granted, and nothing more',
  broader: 'broader than needed: every permission the job needs is granted, and more (see above)',
  'cannot-tell':
    'cannot tell: nothing is missing for sure, but some permissions depend on conditions the check cannot evaluate',
  missing: 'missing permissions: the job would be denied (see above)',
};

/**
 * The report of `s3worker policy --check` as plain-text tables: the needed permissions with
 * their verdicts (and why, for those not granted), the statements that grant more than needed,
 * what the check assumed, and the verdict with its exit code on the last line (what a CI log
 * shows first).
 */
export function formatPolicyCheck(report: PolicyCheckReport): string {
  const lines: string[] = [];
  const several = new Set(report.needs.flatMap((n) => n.from)).size > 1;
  lines.push('Permissions the job needs');
  lines.push(
    ...table(
      ['VERDICT', 'ACTION', 'RESOURCE', 'WHY', 'GRANTED BY'],
      report.needs.map((n) => [
        VERDICT_TEXT[n.verdict],
        n.action,
        n.prefix === undefined ? n.resource : `${n.resource} s3:prefix ${n.prefix}`,
        `${several && n.from.length > 0 ? `[${n.from.join(', ')}] ` : ''}${n.reasons.join('; ')}`,
        n.grantedBy.join(', '),
      ]),
      (i) => {
        const detail = report.needs[i]!.detail;
        return detail === undefined ? [] : [`  → ${detail}`];
      },
    ),
  );
  lines.push('');
  const broad = report.statements.flatMap((s) =>
    s.findings.map((f) => [s.statement, f.kind, f.text]),
  );
  if (broad.length === 0) lines.push("Beyond the job's needs: nothing");
  else {
    lines.push("Beyond the job's needs");
    lines.push(...table(['STATEMENT', 'FINDING', 'DETAIL'], broad));
  }
  lines.push('');
  for (const a of report.assumptions) lines.push(`assumed: ${a}`);
  lines.push(`verdict: ${SUMMARY[report.verdict]} (exit ${report.exitCode})`);
  return `${lines.join('\n')}\n`;
}

/** Left-aligned columns two spaces apart; `after(i)` adds lines under row i. */
function table(
  header: string[],
  rows: string[][],
  after: (i: number) => string[] = () => [],
): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.flatMap((r, i) => [line(r), ...after(i)])];
}
