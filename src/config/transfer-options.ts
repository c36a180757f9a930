import { z } from 'zod';
import { durationSchema } from './duration-schema.js';
import { sizeInRange } from './size-schema.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/**
 * The defaults of the transfer options: the one place they are written. The schema below, the
 * `Transfer` class, `--help` and the docs table all read them from here.
 */
export const TRANSFER_DEFAULTS = {
  partSize: 8 * MiB,
  queueSize: 4,
  maxBufferedBytes: 128 * MiB,
  rangeThreshold: 64 * MiB,
  rangeSize: 8 * MiB,
  rangeConcurrency: 2,
  retryWindow: 30_000,
} as const;

/** S3's smallest part (all but the last). */
export const MIN_PART_SIZE = 5 * MiB;
/** S3's largest part. */
export const MAX_PART_SIZE = 5 * GiB;

/**
 * How every job of a run moves bytes: part sizes, parallelism, and the one bound on buffered
 * memory. Part of the runtime options, so every job (built-in or a `--handler`) has them as
 * flags (`--part-size`), environment (`S3WORKER_PART_SIZE`) and config-file keys.
 */
export const transferOptionsSchema = z.object({
  partSize: sizeInRange({ min: MIN_PART_SIZE, max: MAX_PART_SIZE })
    .default(TRANSFER_DEFAULTS.partSize)
    .describe(
      'Size of the first multipart parts, 5MiB-5GiB. Default 8MiB. Parts grow so that the 10,000-part limit is never hit: a copy of known size gets the size that holds it; a stream of unknown length doubles its part size every 1,000 parts (about 7.8 TiB in 10,000 parts from 8MiB). A body smaller than one part goes up as one PutObject.',
    ),
  queueSize: z
    .int()
    .min(1)
    .max(64)
    .default(TRANSFER_DEFAULTS.queueSize)
    .describe(
      'Parts in flight per upload. Default 4. Memory: up to (queue-size + 1) x part-size per upload (one part filling), within --max-buffered-bytes.',
    ),
  maxBufferedBytes: sizeInRange({ min: MIN_PART_SIZE })
    .default(TRANSFER_DEFAULTS.maxBufferedBytes)
    .describe(
      'One bound on the bytes buffered by all uploads and downloads of the run together, so memory stays flat whatever the object sizes. Default 128MiB.',
    ),
  rangeThreshold: sizeInRange({ min: 1 })
    .default(TRANSFER_DEFAULTS.rangeThreshold)
    .describe('Objects at least this big are downloaded with parallel ranged GETs. Default 64MiB.'),
  rangeSize: sizeInRange({ min: 1 * MiB })
    .default(TRANSFER_DEFAULTS.rangeSize)
    .describe('Bytes per ranged GET. Default 8MiB.'),
  rangeConcurrency: z
    .int()
    .min(1)
    .max(64)
    .default(TRANSFER_DEFAULTS.rangeConcurrency)
    .describe(
      'Ranged GETs in flight per large object. Default 2 (enough to keep one upload of 4 parts busy; raise it where each connection is slow). Memory: up to range-concurrency x range-size per object, within --max-buffered-bytes.',
    ),
  retryWindow: durationSchema
    .default(TRANSFER_DEFAULTS.retryWindow)
    .describe(
      "How long an S3 request (GET, PUT, listing page, HEAD, delete) that keeps failing with a transient fault (reset, timeout, cut body, 5xx, SlowDown) is tried again, with backoff and jitter, after the SDK's own attempts; a body cut mid-way resumes from the last byte. Past it the object fails and an unreachable endpoint stops the run. Default 30s.",
    ),
});

/** The transfer options of a run, parsed (sizes in bytes). */
export type TransferSettings = z.infer<typeof transferOptionsSchema>;
