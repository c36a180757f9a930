import { AbortMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import { S3WorkerError } from '../errors.js';
import type { S3Sender } from './s3-sender.js';

/** Options of `sweepIncompleteUploads`. */
export interface SweepIncompleteUploadsOptions {
  bucket: string;
  /**
   * Only uploads whose key starts with exactly this (default: the whole bucket). Compared as
   * given: pass a folder (`out/`), since `out` also matches `outbound/…`.
   */
  prefix?: string;
  /**
   * Abort only uploads initiated more than this many milliseconds ago, so uploads of a task
   * running right now are left alone. 0 aborts every upload under the prefix.
   */
  olderThan: number;
  log: Pick<Logger, 'info' | 'warn'>;
  signal?: AbortSignal;
}

/**
 * Aborts incomplete multipart uploads under `bucket/prefix` initiated longer ago than
 * `olderThan` (what a killed task left behind; they cost storage until aborted).
 *
 * The prefix is applied here, not sent as ListMultipartUploads' `Prefix`: MinIO matches that
 * `Prefix` against whole keys only (`sweep/` finds nothing, `sweep/a` finds `sweep/a`), so a
 * server-side prefix would silently sweep nothing there. Costs extra pages only in buckets with
 * many incomplete uploads outside the prefix.
 * @returns how many uploads were aborted.
 */
export async function sweepIncompleteUploads(
  s3: S3Sender,
  options: SweepIncompleteUploadsOptions,
): Promise<number> {
  const { bucket, prefix, olderThan, log, signal } = options;
  const cutoff = Date.now() - olderThan;
  let aborted = 0;
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    signal?.throwIfAborted();
    const page = await s3.send(
      new ListMultipartUploadsCommand({
        Bucket: bucket,
        KeyMarker: keyMarker,
        UploadIdMarker: uploadIdMarker,
      }),
      { abortSignal: signal },
    );
    for (const u of page.Uploads ?? []) {
      if (u.Key === undefined || u.UploadId === undefined) continue;
      if (prefix !== undefined && !u.Key.startsWith(prefix)) continue;
      const initiated = u.Initiated?.getTime() ?? 0;
      if (initiated > cutoff) continue;
      await s3.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }),
        { abortSignal: signal },
      );
      aborted += 1;
      log.info(
        { bucket, key: u.Key, uploadId: u.UploadId, initiated: u.Initiated?.toISOString() },
        'aborted incomplete multipart upload',
      );
    }
    const truncated = page.IsTruncated === true;
    if (truncated && !page.NextKeyMarker) {
      throw new S3WorkerError(
        `the multipart upload listing of s3://${bucket}/${prefix ?? ''} is truncated but gave no marker`,
        {
          code: 'LISTING_TRUNCATED',
          context: { bucket, prefix },
          hint: 'the S3 endpoint (or a proxy) returned a broken ListMultipartUploads page; run again',
        },
      );
    }
    keyMarker = truncated ? page.NextKeyMarker : undefined;
    uploadIdMarker = truncated ? page.NextUploadIdMarker : undefined;
  } while (keyMarker !== undefined);
  return aborted;
}
