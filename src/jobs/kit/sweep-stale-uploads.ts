import type { S3Sender } from '../../s3/s3-sender.js';
import {
  type SweepIncompleteUploadsOptions,
  sweepIncompleteUploads,
} from '../../s3/sweep-uploads.js';

/**
 * Aborts the multipart uploads a killed task left under `prefix` (initiated more than
 * `olderThan` ms ago; 0 turns the sweep off) and logs how many. A failure only warns, unless
 * the run is aborting: a sweep that cannot run must not stop the work it cleans up after.
 */
export async function sweepStaleUploads(
  s3: S3Sender,
  options: SweepIncompleteUploadsOptions,
): Promise<void> {
  if (options.olderThan === 0) return;
  try {
    const aborted = await sweepIncompleteUploads(s3, options);
    if (aborted > 0) options.log.info({ aborted }, 'swept incomplete uploads');
  } catch (err) {
    if (options.signal?.aborted) throw err;
    options.log.warn({ err }, 'could not sweep incomplete uploads; continuing');
  }
}
