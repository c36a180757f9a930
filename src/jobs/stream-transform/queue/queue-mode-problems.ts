import type { ConfigIssue } from '../../../errors.js';
import { queueOptionProblems } from '../../kit/queue/queue-options.js';
import type { StreamTransformConfig } from '../config.js';

/**
 * stream-transform options that contradict queue mode, or queue options without `queue`; empty
 * when consistent. The queue decides which objects are processed, so `keys` and `shard` make no
 * sense beside it, and a dry run would have to consume messages it does not process.
 */
export function queueModeProblems(config: StreamTransformConfig): ConfigIssue[] {
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
