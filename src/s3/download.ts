import { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { S3WorkerError } from '../errors.js';
import type { ByteBudget } from './byte-budget.js';
import { destroyOnAbort } from './destroy-on-abort.js';
import { type ChecksumCheck, directRequestsOf } from './direct-requests.js';
import { RangedObjectStream } from './ranged-object-stream.js';
import { checksumMismatchError, transferError } from './transfer-error.js';

const MiB = 1024 * 1024;

/** Default `rangeThreshold`: below it one GET is as fast as ranges and costs one request. */
export const DEFAULT_RANGE_THRESHOLD = 64 * MiB;
/** Default `rangeSize`. */
export const DEFAULT_RANGE_SIZE = 8 * MiB;
/**
 * Default `rangeConcurrency`. Ranges read ahead of the consumer wait in memory, and measured here
 * (1 GiB copy-through) 4 in flight cost 40% more CPU than 2 (their chunks outlive the young
 * generation) and 60 MiB more RSS, for no more throughput: the upload is the bound.
 */
export const DEFAULT_RANGE_CONCURRENCY = 2;

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
  /**
   * Global bound on buffered bytes. Each ranged GET holds its range's bytes from before it is
   * sent until the consumer has taken them. A single GET is not charged: it buffers only the
   * stream's high-water mark (64 KiB), paced by the consumer.
   */
  budget: ByteBudget;
  /** Objects of at least this many bytes are read with ranged GETs in parallel (default 64 MiB). */
  rangeThreshold?: number;
  /** Bytes per ranged GET (default 8 MiB). Memory: up to `rangeConcurrency × rangeSize` per object, within the budget. */
  rangeSize?: number;
  /** Ranged GETs in flight per object (default 2). Each holds one socket. */
  rangeConcurrency?: number;
  /** Aborting destroys the stream with the signal's reason and aborts every request. */
  signal?: AbortSignal;
}

/**
 * A readable stream of one object's bytes, in order.
 *
 * - Below `rangeThreshold`: one GetObject streamed through, paced by the consumer.
 * - At or above it: ranged GETs in parallel (`RangedObjectStream`), reassembled in order,
 *   each range charged to the budget.
 * - Every GET carries `If-Match: etag` (when given), so an object replaced mid-read fails with
 *   code `OBJECT_CHANGED` instead of mixing versions.
 * - Integrity: a single GET asks for the object's checksum (`ChecksumMode: ENABLED`) and the
 *   SDK validates the body against it when the object has a full-object checksum (CRC32,
 *   CRC32C, CRC64NVME, SHA-1, SHA-256); the stream errors at its end on a mismatch. S3 returns
 *   no checksum for a range, so the ranged path verifies the whole reassembled stream itself
 *   against a full-object CRC32 read with HeadObject; see `RangedObjectStream` for what is not
 *   verified there.
 * - Every response body is consumed or destroyed; errors, aborts and `destroy()` by the
 *   consumer abort the requests in flight.
 */
export function openObjectStream(s3: S3Client, options: OpenObjectStreamOptions): Readable {
  const threshold = options.rangeThreshold ?? DEFAULT_RANGE_THRESHOLD;
  if (options.size >= threshold && options.size > 0) {
    return new RangedObjectStream(s3, {
      ...options,
      rangeSize: options.rangeSize ?? DEFAULT_RANGE_SIZE,
      rangeConcurrency: options.rangeConcurrency ?? DEFAULT_RANGE_CONCURRENCY,
    });
  }
  return new SingleGetStream(s3, options);
}

/** Options of `readSmallObject`. */
export interface ReadSmallObjectOptions {
  bucket: string;
  key: string;
  /** Size as listed: the buffer's size, and what the body must measure. */
  size: number;
  /** ETag as listed, sent as `If-Match`. */
  etag?: string | undefined;
  versionId?: string | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Reads a whole (small) object into one buffer of its listed size with a direct GetObject (see
 * `DirectRequests`): no stream in between, for copies of many small objects. Verifies the
 * object's checksum, when it has one this path computes, and its size. Returns `undefined`
 * when the client has no direct requests or the GET did not answer 200: the caller then reads
 * the object with `openObjectStream`, which goes through the SDK and explains any error.
 */
export async function readSmallObject(
  s3: S3Client,
  options: ReadSmallObjectOptions,
): Promise<Buffer | undefined> {
  const { bucket, key, size, signal } = options;
  const got = await directRequestsOf(s3)?.getObject(
    { bucket, key, ifMatch: options.etag, versionId: options.versionId },
    signal,
  );
  if (!got) return undefined;
  const { body, checksum } = got;
  const unlink = destroyOnAbort(body, signal);
  const buffer = Buffer.allocUnsafe(size);
  let received = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (received + chunk.length > size)
        throw sizeMismatch(bucket, key, received + chunk.length, size);
      chunk.copy(buffer, received);
      checksum?.update(chunk);
      received += chunk.length;
    }
  } catch (err) {
    body.destroy();
    throw transferError(err, { action: 'GetObject', bucket, key }, signal);
  } finally {
    unlink();
  }
  if (received !== size) throw sizeMismatch(bucket, key, received, size);
  if (checksum && !checksum.matches()) {
    throw checksumMismatchError({ action: 'GetObject', bucket, key });
  }
  return buffer;
}

function sizeMismatch(bucket: string, key: string, got: number, want: number): S3WorkerError {
  return new S3WorkerError(`s3://${bucket}/${key} returned ${got} bytes, listed as ${want}`, {
    code: 'SIZE_MISMATCH',
    context: { bucket, key },
    hint: 'the object changed since it was listed; run again',
  });
}

/** One GetObject, started on the first read, its body passed through with backpressure. */
class SingleGetStream extends Readable {
  readonly #s3: S3Client;
  readonly #options: OpenObjectStreamOptions;
  readonly #controller = new AbortController();
  readonly #unlinkSignal: () => void;
  #body: Readable | undefined;
  #started = false;
  #ended = false;

  constructor(s3: S3Client, options: OpenObjectStreamOptions) {
    super();
    this.#s3 = s3;
    this.#options = options;
    this.#unlinkSignal = destroyOnAbort(this, options.signal);
  }

  override _read(): void {
    if (!this.#started) {
      this.#started = true;
      void this.#start();
      return;
    }
    this.#body?.resume();
  }

  async #start(): Promise<void> {
    const { bucket, key, etag, versionId } = this.#options;
    try {
      const direct = await directRequestsOf(this.#s3)?.getObject(
        { bucket, key, ifMatch: etag, versionId },
        this.#controller.signal,
      );
      if (direct) {
        this.#attach(direct.body, direct.checksum);
        return;
      }
      const res = await this.#s3.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          IfMatch: etag,
          VersionId: versionId,
          ChecksumMode: 'ENABLED',
        }),
        { abortSignal: this.#controller.signal },
      );
      this.#attach(res.Body as Readable);
    } catch (err) {
      this.destroy(this.#explain(err));
    }
  }

  /** Passes `body` through with backpressure; with `checksum`, verifies it at its end. */
  #attach(body: Readable, checksum?: ChecksumCheck): void {
    if (this.destroyed) {
      body.destroy();
      return;
    }
    this.#body = body;
    body.on('data', (chunk: Buffer) => {
      checksum?.update(chunk);
      if (!this.push(chunk)) body.pause();
    });
    body.once('end', () => {
      this.#ended = true;
      if (checksum && !checksum.matches()) {
        const { bucket, key } = this.#options;
        this.destroy(checksumMismatchError({ action: 'GetObject', bucket, key }));
        return;
      }
      this.push(null);
    });
    body.once('error', (err) => this.destroy(this.#explain(err)));
  }

  #explain(err: unknown): Error {
    const { bucket, key, signal } = this.#options;
    return transferError(err, { action: 'GetObject', bucket, key }, signal) as Error;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#unlinkSignal();
    // A body read to its end has released its socket: nothing to abort (and an abort with no
    // reason builds a DOMException, measurable per object in runs of many small ones).
    if (!this.#ended || err) {
      this.#controller.abort(err ?? undefined);
      // An unread body holds its socket forever (sdk #3560): destroy it explicitly.
      this.#body?.destroy();
    }
    callback(err);
  }
}
