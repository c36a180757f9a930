import { S3WorkerError } from '../../errors.js';
import { TransferErrorCode } from '../../transfer/transfer-error.js';

/**
 * Why reading an object named by a report failed because the report is older than the object,
 * or `undefined` for a real failure: replaced since (the GET's `If-Match` on the report's ETag
 * failed: `changed-since-report`) or deleted since (404: `deleted-since-report`). Reports are
 * eventually consistent snapshots, so both are expected and counted as skips, not failures.
 */
export function goneSinceReport(err: unknown): string | undefined {
  if (!(err instanceof S3WorkerError)) return undefined;
  if (err.code === TransferErrorCode.ObjectChanged) return 'changed-since-report';
  if (err.code === 'NO_SUCH_KEY') return 'deleted-since-report';
  return undefined;
}
