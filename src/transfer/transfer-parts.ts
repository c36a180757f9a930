import type { S3Client } from '@aws-sdk/client-s3';
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
}
