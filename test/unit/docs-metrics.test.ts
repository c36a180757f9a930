import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../src/jobs/job-metrics.js';

const page = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');

/** The rows of the "Every metric" table: name, unit, kind, reported by, lines. */
function metricRows(): string[][] {
  const section = page.split('## Every metric')[1]?.split('\n## ')[0] ?? '';
  return section
    .split('\n')
    .filter((line) => /^\| `[A-Z]/.test(line))
    .map((line) =>
      line
        .split('|')
        .slice(1, 6)
        .map((cell) => cell.trim().replaceAll('`', '')),
    );
}

const SCOPES: Record<string, string> = {
  run: 'every run',
  'ship-logs': 'ship-logs',
  queue: 'queue mode',
  'db-backup': 'db-backup',
  'db-restore': 'db-restore',
};

describe('docs/metrics.md', () => {
  it('lists every built-in metric once, in catalogue order, with its unit, kind, job and lines', () => {
    expect(metricRows()).toEqual(
      METRICS.map((m) => [
        m.name,
        m.unit,
        m.kind,
        SCOPES[m.scope],
        m.when === 'summary' ? 'summary' : 'all',
      ]),
    );
  });

  it('names every option the metrics have', () => {
    for (const flag of [
      '--metrics auto',
      '--metrics-namespace',
      '--metrics-interval',
      '--metrics-dimension',
    ]) {
      expect(page).toContain(flag);
    }
  });
});
