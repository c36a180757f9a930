import type { ConfigIssue } from '../../../errors.js';
import { type QueueOptions, queueOptionProblems } from '../../kit/queue/queue-options.js';

/** The stream-transform options queue mode is checked against (a part of its config). */
export interface QueueModeConfig extends QueueOptions {
  keys?: string | undefined;
  shard?: string | undefined;
  dryRun: boolean;
}

/**
 * stream-transform options that contradict queue mode, or queue options without `queue`; empty
 * when consistent. The queue decides which objects are processed, so `keys` and `shard` make no
 * sense beside it, and a dry run would have to consume messages it does not process.
 */
export function queueModeProblems(config: QueueModeConfig): ConfigIssue[] {
  const issues = queueOptionProblems(config);
  if (config.queue === undefined) return issues;
  if (config.keys !== undefined) {
    issues.push({
      path: 'keys',
      message: 'cannot be combined with queue: the queue names the objects',
    });
  }
  if (config.shard !== undefined) {
    issues.push({
      path: 'shard',
      message: 'cannot be combined with queue: workers on one queue share it without sharding',
    });
  }
  if (config.dryRun) {
    issues.push({
      path: 'dryRun',
      message:
        'cannot be combined with queue: a dry run would consume messages without doing their work',
    });
  }
  return issues;
}
