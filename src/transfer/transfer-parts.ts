import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import type { RequestCounts } from '../s3/request-counts.js';
import type { ByteBudget } from './byte-budget.js';
import type { DirectRequests } from './direct-requests.js';
import type { PartBufferPool } from './part-buffer-pool.js';

/** What the upload and download functions share within one `Transfer`. */
export interface TransferParts {
  readonly s3: S3Client;
  /** The one bound on bytes buffered by every upload and download of the run. */
  readonly budget: ByteBudget;
  /** Spare part buffers, reused across uploads. */
  readonly buffers: PartBufferPool;
  /** GET/PUT of small objects without the SDK's middleware; undefined when turned off. */
  readonly direct: DirectRequests | undefined;
  /** How transient faults are retried on top of the SDK's attempts (see `retryTransient`). */
  readonly retry: TransferRetry;
  /** Counts bytes S3 acknowledged storing: a part or single PUT answered (`Transfer.bytesStored`). */
  noteStored(bytes: number): void;
}

/** The retry settings every request of a transfer shares. */
export interface TransferRetry {
  /** How long after a request's first transient failure another attempt may start, ms. */
  windowMs: number;
  /** Gets a line for each retry (warn) and each resumed body. */
  log?: Logger | undefined;
  /** Counts each retry, for the run's metrics. */
  counts?: RequestCounts | undefined;
}
