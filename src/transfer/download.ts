import { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { S3WorkerError } from '../errors.js';
import { destroyOnAbort } from './destroy-on-abort.js';
import type { ChecksumCheck, DirectRequests } from './direct-requests.js';
import type { DownloadOptions } from './download-options.js';
import { RangedObjectStream } from './ranged-download.js';
import { checksumMismatchError, transferError } from './transfer-error.js';
import type { TransferParts } from './transfer-parts.js';

/** How large objects are read: the run's range settings (see `TransferSettings`). */
export interface RangeSettings {
  rangeThreshold: number;
  rangeSize: number;
  rangeConcurrency: number;
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
export function openObjectStream(
  parts: TransferParts,
  options: DownloadOptions,
  ranges: RangeSettings,
): Readable {
  const { size } = options;
  if (size !== undefined && size >= ranges.rangeThreshold && size > 0) {
    return new RangedObjectStream(parts.s3, {
      ...options,
      size,
      budget: parts.budget,
      rangeSize: options.rangeSize ?? ranges.rangeSize,
      rangeConcurrency: options.rangeConcurrency ?? ranges.rangeConcurrency,
    });
  }
  return new SingleGetStream(parts.s3, parts.direct, options);
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
  parts: TransferParts,
  options: ReadSmallObjectOptions,
): Promise<Buffer | undefined> {
  const { bucket, key, size, signal } = options;
  const got = await parts.direct?.getObject(
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
  readonly #direct: DirectRequests | undefined;
  readonly #options: DownloadOptions;
  readonly #controller = new AbortController();
  readonly #unlinkSignal: () => void;
  #body: Readable | undefined;
  #started = false;
  #ended = false;
  /** Body bytes passed on so far. */
  #received = 0;

  constructor(s3: S3Client, direct: DirectRequests | undefined, options: DownloadOptions) {
    super();
    this.#s3 = s3;
    this.#direct = direct;
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
      const direct = await this.#direct?.getObject(
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
      this.#received += chunk.length;
      if (!this.push(chunk)) body.pause();
    });
    body.once('end', () => {
      this.#ended = true;
      const { bucket, key, size } = this.#options;
      // A body cut short without an error (a proxy, a server) is caught by its length, also
      // for objects without a checksum to verify.
      if (size !== undefined && this.#received !== size) {
        this.destroy(sizeMismatch(bucket, key, this.#received, size));
        return;
      }
      if (checksum && !checksum.matches()) {
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
