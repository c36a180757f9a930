import type { DoctorReport } from './run-doctor.js';

const VERDICT: Record<string, string> = { pass: 'ok', fail: 'FAIL', skip: 'skip' };

/**
 * The doctor's report for a terminal: the credentials, region, endpoint and identity, then one
 * row per check with its verdict, then the fix for each failure and what could not be cleaned up.
 */
export function formatDoctorReport(report: DoctorReport): string {
  const lines: string[] = [];
  const identity =
    'unavailable' in report.identity
      ? report.identity.unavailable
      : (report.identity.arn ?? report.identity.userId ?? 'unknown');
  lines.push(
    `credentials  ${report.credentials ? `${report.credentials.source}, expires ${report.credentials.expiration ?? 'never'}` : 'none'}`,
    `region       ${report.region ?? '-'}`,
    `endpoint     ${report.endpoint ?? 'AWS (default)'}`,
    `identity     ${identity}`,
    '',
  );
  const header = ['CHECK', 'PERMISSION', 'TARGET', 'VERDICT'];
  const rows = report.checks.map((c) => [
    c.name,
    c.permission,
    c.target,
    VERDICT[c.verdict] ?? c.verdict,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const row = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  lines.push(row(header), ...rows.map(row));

  const failures = report.checks.filter((c) => c.verdict === 'fail');
  if (failures.length > 0) {
    lines.push('', 'What to fix:');
    for (const c of failures) {
      lines.push(`- ${c.name}: ${c.detail}`);
      if (c.fix) lines.push(...c.fix.split('\n').map((l) => `    ${l}`));
    }
  }
  if (report.leftovers.length > 0) {
    lines.push('', 'Left behind (removing them was denied; remove them with other credentials):');
    lines.push(...report.leftovers.map((l) => `- ${l}`));
  }
  lines.push(
    '',
    report.ok
      ? 'all checks passed'
      : `${failures.length} check${failures.length === 1 ? '' : 's'} failed (exit code ${report.exitCode})`,
  );
  return `${lines.join('\n')}\n`;
}
