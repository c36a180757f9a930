import type { ConfigIssue } from '../../errors.js';

/** The options that name where a run's objects come from (a part of the config). */
export interface ObjectSourceConfig {
  inventory?: string | undefined;
  manifest?: string | undefined;
  keys?: string | undefined;
  queue?: string | undefined;
}

/**
 * `inventory` and `manifest` beside another object source: each replaces the listing, so at
 * most one of inventory, manifest, keys and queue may be set (keys with queue is told by
 * `queueModeProblems`). Empty when consistent.
 */
export function reportSourceProblems(config: ObjectSourceConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const reports = (['inventory', 'manifest'] as const).filter((f) => config[f] !== undefined);
  const others = (['keys', 'queue'] as const).filter((f) => config[f] !== undefined);
  if (reports.length === 2) {
    issues.push({
      path: 'manifest',
      message: 'cannot be combined with inventory: give one report as the source of objects',
    });
  }
  for (const report of reports) {
    for (const other of others) {
      issues.push({
        path: report,
        message: `cannot be combined with ${other}: each names the objects to process; use one`,
      });
    }
  }
  return issues;
}
