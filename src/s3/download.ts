import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ByteBudget } from './byte-budget.js';

/** Options of `openObjectStream`. */
export interface OpenObjectStreamOptions {
  bucket: string;
  key: string;
  /** Object size in bytes, as listed. Decides single vs ranged GET and the ranges. */
  size: number;
  /** ETag as listed (quoted). Sent as `If-Match` so a changed object fails instead of mixing versions. */
  etag?: string;
  /** Read this version (versioned buckets). */
  versionId?: string;
  /** Global bound on buffered bytes; each ranged GET holds its range's bytes until the consumer takes them. */
  budget: ByteBudget;
  /** Objects of at least this many bytes are read with ranged GETs in parallel (default 64 MiB). */
  rangeThreshold?: number;
  /** Bytes per ranged GET (default 8 MiB). Memory: up to `rangeConcurrency × rangeSize` per object, within the budget. */
  rangeSize?: number;
  /** Ranged GETs in flight per object (default 4). Each holds one socket. */
  rangeConcurrency?: number;
  /** Aborting destroys the stream with the signal's reason and aborts every request. */
  signal?: AbortSignal;
}

/**
 * A readable stream of one object's bytes, in order. Below `rangeThreshold`, one GetObject
 * streamed through; at or above it, ranged GETs in parallel, reassembled in order.
 * Every response body is consumed or destroyed; errors and aborts destroy the stream.
 */
export function openObjectStream(_s3: S3Client, _options: OpenObjectStreamOptions): Readable {
  throw new Error('not implemented yet');
}
