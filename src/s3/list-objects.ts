import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { S3WorkerError } from '../errors.js';
import type { S3Sender } from './s3-sender.js';

/** One object as listed. */
export interface ListedObject {
  key: string;
  /** Bytes. */
  size: number;
  /** The ETag exactly as S3 returns it, quotes included (what `If-Match` expects). */
  etag: string;
  lastModified: Date;
}

export interface ListObjectsOptions {
  bucket: string;
  /** Only keys starting with this (default: the whole bucket). */
  prefix?: string;
  /** Aborts the listing; the generator then throws the signal's reason. */
  signal?: AbortSignal;
  /** Keys per ListObjectsV2 page, 1–1000 (default 1000). Memory holds at most one page. */
  pageSize?: number;
  /** Start listing after this key (exclusive), e.g. to resume. */
  startAfter?: string;
}

/**
 * Every object under `bucket/prefix`, in key order, one ListObjectsV2 page at a time: the next
 * page is requested only when the consumer has taken the previous one, so memory holds at
 * most one page (≤ `pageSize` entries) whatever the bucket size.
 */
export async function* listObjects(
  s3: S3Sender,
  options: ListObjectsOptions,
): AsyncGenerator<ListedObject, void, undefined> {
  const { bucket, prefix, signal, startAfter } = options;
  const pageSize = options.pageSize ?? 1000;
  let token: string | undefined;
  do {
    signal?.throwIfAborted();
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix === '' ? undefined : prefix,
        MaxKeys: pageSize,
        ContinuationToken: token,
        StartAfter: token === undefined ? startAfter : undefined,
      }),
      { abortSignal: signal },
    );
    for (const o of page.Contents ?? []) {
      if (o.Key === undefined) continue;
      yield {
        key: o.Key,
        size: o.Size ?? 0,
        etag: o.ETag ?? '',
        lastModified: o.LastModified ?? new Date(0),
      };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
    // A truncated page without a token cannot be continued: ending here would silently drop
    // the rest of the listing, and asking again would loop. Fail loudly instead.
    if (page.IsTruncated === true && !token) {
      throw new S3WorkerError(
        `the listing of s3://${bucket}/${prefix ?? ''} is truncated but gave no continuation token`,
        {
          code: 'LISTING_TRUNCATED',
          context: { bucket, prefix },
          hint: 'the S3 endpoint (or a proxy) returned a broken ListObjectsV2 page; run again, and report it to the store if it persists',
        },
      );
    }
  } while (token !== undefined);
}
