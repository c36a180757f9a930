import { S3WorkerError } from '../../../errors.js';
import { TransferErrorCode } from '../../../transfer/transfer-error.js';

/**
 * True when reading an object named by an event failed because the object is no longer the one
 * the event announced: replaced since (the read's `If-Match` on the event's ETag failed) or
 * deleted since (404). S3 sends an event for every write, so a replaced object has a newer event
 * of its own, and a deleted one has nothing left to process: the old event is done with, not a
 * failure to retry until it reaches the dead-letter queue.
 */
export function goneSinceEvent(err: unknown): boolean {
  return (
    err instanceof S3WorkerError &&
    (err.code === TransferErrorCode.ObjectChanged || err.code === 'NO_SUCH_KEY')
  );
}
