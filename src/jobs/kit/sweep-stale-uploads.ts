import type { S3Location } from '../../config/s3-location.js';
import type { S3Sender } from '../../s3/s3-sender.js';
import {
  type SweepIncompleteUploadsOptions,
  sweepIncompleteUploads,
} from '../../s3/sweep-uploads.js';
import { prefixFolder } from './key-template.js';

/** Options of {@link sweepStaleUploads}. */
export interface SweepStaleUploadsOptions
  extends Omit<SweepIncompleteUploadsOptions, 'bucket' | 'prefix'> {
  /** The job's output: uploads below the folder its prefix names are swept. */
  output: S3Location;
}

/**
 * Aborts the multipart uploads a killed task left below the folder `output` names (initiated
 * more than `olderThan` ms ago; 0 turns the sweep off) and logs how many: outputs are written
 * below that folder (`joinPrefix`), so output `out` must not sweep `outbound/`'s uploads. A
 * failure only warns, unless the run is aborting: a sweep that cannot run must not stop the
 * work it cleans up after.
 */
export async function sweepStaleUploads(
  s3: S3Sender,
  options: SweepStaleUploadsOptions,
): Promise<void> {
  if (options.olderThan === 0) return;
  const { output, ...rest } = options;
  try {
    const aborted = await sweepIncompleteUploads(s3, {
      ...rest,
      bucket: output.bucket,
      prefix: prefixFolder(output.prefix),
    });
    if (aborted > 0) options.log.info({ aborted }, 'swept incomplete uploads');
  } catch (err) {
    if (options.signal?.aborted) throw err;
    options.log.warn({ err }, 'could not sweep incomplete uploads; continuing');
  }
}
