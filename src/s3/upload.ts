import type { Readable } from 'node:stream';
import type { ChecksumAlgorithm, S3Client, StorageClass } from '@aws-sdk/client-s3';
import type { ByteBudget } from './byte-budget.js';

/** Server-side encryption of the written object. */
export type SseOption = { type: 'AES256' } | { type: 'aws:kms'; keyId?: string };

/** Options of `uploadStream`. */
export interface UploadStreamOptions {
  bucket: string;
  key: string;
  /** The bytes to write; any length, unknown in advance is fine. */
  body: Readable | AsyncIterable<Uint8Array>;
  /** Bytes per part, ≥ 5 MiB (default 8 MiB). 10,000 parts max: 8 MiB parts cap an object at ≈ 78 GiB. */
  partSize?: number;
  /** Parts in flight at once (default 4). Memory: up to `queueSize × partSize`, within the budget. */
  queueSize?: number;
  /** Global bound on buffered bytes; each part holds `partSize` from when it starts filling until it is sent. */
  budget: ByteBudget;
  /** Write only if the key does not exist (`If-None-Match: *`); a second write fails with PreconditionFailed. */
  ifNoneMatch?: boolean;
  contentType?: string;
  contentEncoding?: string;
  /** User metadata (`x-amz-meta-*`). */
  metadata?: Record<string, string>;
  /** Object tags, set with the write itself (no separate tagging call). */
  tags?: Record<string, string>;
  storageClass?: StorageClass;
  sse?: SseOption;
  /** Checksum the SDK computes per request and S3 verifies (default: the client's setting, CRC32). */
  checksumAlgorithm?: ChecksumAlgorithm;
  /** Aborts the upload; a multipart upload is then aborted on the server. */
  signal?: AbortSignal;
}

/** What was written. */
export interface UploadStreamResult {
  etag: string;
  /** Bytes written. */
  bytes: number;
  /** Parts uploaded (1 for a single PutObject). */
  parts: number;
  versionId?: string;
}

/**
 * Streams `body` into `bucket/key`: one PutObject when it is smaller than one part, otherwise
 * a multipart upload with `queueSize` parts in flight. On any error or abort the multipart
 * upload is aborted, so nothing half-written stays behind.
 */
export async function uploadStream(
  _s3: S3Client,
  _options: UploadStreamOptions,
): Promise<UploadStreamResult> {
  throw new Error('not implemented yet');
}
