import { Readable } from 'node:stream';
import { GetObjectCommand, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { S3WorkerError } from '../errors.js';
import { destroyOnAbort } from './destroy-on-abort.js';
import { type ChecksumCheck, responseChecksum } from './direct-requests.js';
import type { DownloadOptions } from './download-options.js';
import { RangedObjectStream } from './ranged-download.js';
import { reasonOf, sendWithRetry } from './send-with-retry.js';
import { checksumMismatchError, transferError } from './transfer-error.js';
import type { TransferParts } from './transfer-parts.js';
import {
  BODY_TRUNCATED,
  backoffDelay,
  isTransientError,
  retryTransient,
} from './transient-retry.js';

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
      retry: parts.retry,
      direct: parts.direct,
      rangeSize: options.rangeSize ?? ranges.rangeSize,
      rangeConcurrency: options.rangeConcurrency ?? ranges.rangeConcurrency,
    });
  }
  return new SingleGetStream(parts, options);
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
 * object's checksum, when it has one this path computes, and its size; a body cut short or
 * reset is read again (backoff, within the retry window). Returns `undefined` when the client
 * has no direct requests or the GET did not answer 200: the caller then reads the object with
 * `openObjectStream`, which goes through the SDK and explains any error.
 */
export async function readSmallObject(
  parts: TransferParts,
  options: ReadSmallObjectOptions,
): Promise<Buffer | undefined> {
  const { bucket, key, size, signal } = options;
  const direct = parts.direct;
  if (!direct) return undefined;
  const buffer = Buffer.allocUnsafe(size);
  try {
    return await retryTransient(
      async () => {
        const got = await direct.getObject(
          { bucket, key, ifMatch: options.etag, versionId: options.versionId },
          signal,
        );
        if (!got) return undefined;
        const { body, checksum, contentLength } = got;
        const unlink = destroyOnAbort(body, signal);
        let received = 0;
        try {
          for await (const chunk of body as AsyncIterable<Buffer>) {
            if (received + chunk.length > size) {
              throw sizeMismatch(bucket, key, received + chunk.length, size);
            }
            chunk.copy(buffer, received);
            checksum?.update(chunk);
            received += chunk.length;
          }
        } catch (err) {
          body.destroy();
          throw err;
        } finally {
          unlink();
        }
        // Fewer bytes than the response announced: cut in transit, read it again. As many as
        // announced but not the listed size: the object is not the one listed.
        if (contentLength !== undefined && received < contentLength) {
          throw truncated(bucket, key, received, contentLength);
        }
        if (received !== size) throw sizeMismatch(bucket, key, received, size);
        if (checksum && !(await checksum.matches())) {
          throw checksumMismatchError({ action: 'GetObject', bucket, key });
        }
        return buffer;
      },
      {
        windowMs: parts.retry.windowMs,
        signal,
        counts: parts.retry.counts,
        onRetry: (err, attempt, delayMs) =>
          parts.retry.log?.warn(
            { action: 'GetObject', bucket, key, attempt, delayMs, reason: reasonOf(err) },
            'transient s3 failure; retrying',
          ),
      },
    );
  } catch (err) {
    throw transferError(err, { action: 'GetObject', bucket, key }, signal);
  }
}

function sizeMismatch(bucket: string, key: string, got: number, want: number): S3WorkerError {
  return new S3WorkerError(`s3://${bucket}/${key} returned ${got} bytes, listed as ${want}`, {
    code: 'SIZE_MISMATCH',
    context: { bucket, key },
    hint: 'the object changed since it was listed; run again',
  });
}

/** A body that ended before its length: retried (resumed) as a transient fault. */
function truncated(bucket: string, key: string, got: number, want: number): S3WorkerError {
  return new S3WorkerError(
    `the body of s3://${bucket}/${key} ended after ${got} of ${want} bytes`,
    {
      code: BODY_TRUNCATED,
      context: { bucket, key, got, want },
      hint: 'a connection or proxy cut the body short; run again if it persists',
    },
  );
}

/** The checksum headers of an SDK GetObject output, as the direct path reads them from a response. */
function checksumHeaders(res: GetObjectCommandOutput): Record<string, string | undefined> {
  return {
    'x-amz-checksum-type': res.ChecksumType,
    'x-amz-checksum-crc64nvme': res.ChecksumCRC64NVME,
    'x-amz-checksum-crc32c': res.ChecksumCRC32C,
    'x-amz-checksum-crc32': res.ChecksumCRC32,
    'x-amz-checksum-sha1': res.ChecksumSHA1,
    'x-amz-checksum-sha256': res.ChecksumSHA256,
  };
}

/**
 * One GetObject, started on the first read, its body passed through with backpressure; a body
 * cut mid-way is resumed from the last byte received (see `openObjectStream`).
 */
class SingleGetStream extends Readable {
  readonly #parts: TransferParts;
  readonly #options: DownloadOptions;
  readonly #controller = new AbortController();
  readonly #unlinkSignal: () => void;
  #body: Readable | undefined;
  #started = false;
  #ended = false;
  /** Body bytes passed on so far, across resumptions. */
  #received = 0;
  /** The listed size, when given. */
  readonly #listedSize: number | undefined;
  /** Where the current response's body ends (bytes from the object's start), when it said. */
  #responseEnd: number | undefined;
  /** The listed ETag, else the first response's: a resumption reads the same version. */
  #etag: string | undefined;
  #checksum: ChecksumCheck | undefined;
  /** Bumped per response attached: events of an abandoned body are ignored. */
  #generation = 0;
  #retries = 0;
  #firstFailureAt: number | undefined;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(parts: TransferParts, options: DownloadOptions) {
    super();
    this.#parts = parts;
    this.#options = options;
    this.#listedSize = options.size;
    this.#etag = options.etag;
    this.#unlinkSignal = destroyOnAbort(this, options.signal);
  }

  override _read(): void {
    if (!this.#started) {
      this.#started = true;
      void this.#open();
      return;
    }
    this.#body?.resume();
  }

  /** Sends the GET: the whole object, or the rest of it after a cut. */
  async #open(): Promise<void> {
    const { bucket, key, versionId } = this.#options;
    const resume = this.#received > 0;
    const range = resume ? `bytes=${this.#received}-` : undefined;
    const signal = this.#controller.signal;
    try {
      const direct = await this.#parts.direct?.getObject(
        { bucket, key, ifMatch: this.#etag, versionId, range },
        signal,
      );
      if (direct) {
        if (!resume) this.#checksum = direct.checksum;
        this.#responseEnd =
          direct.contentLength === undefined ? undefined : this.#received + direct.contentLength;
        this.#etag ??= direct.etag;
        this.#attach(direct.body);
        return;
      }
      const command = new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        IfMatch: this.#etag,
        VersionId: versionId,
        Range: range,
        ChecksumMode: resume ? undefined : 'ENABLED',
      });
      const res = await sendWithRetry(
        () => this.#parts.s3.send(command, { abortSignal: signal }),
        this.#parts.retry,
        { action: 'GetObject', bucket, key },
        signal,
      );
      if (!resume) {
        // Verified here too (the SDK verifies only the first body), so that a resumed read is
        // covered end to end; a checksum computed only by the SDK stays the SDK's to verify.
        const check = responseChecksum(
          checksumHeaders(res),
          (this.#parts.s3.config as { checksumAlgorithms?: Parameters<typeof responseChecksum>[1] })
            .checksumAlgorithms,
        );
        this.#checksum = check === 'unsupported' ? undefined : check;
      }
      this.#responseEnd =
        res.ContentLength === undefined ? undefined : this.#received + res.ContentLength;
      this.#etag ??= res.ETag;
      this.#attach(res.Body as Readable);
    } catch (err) {
      this.#failed(err);
    }
  }

  /** Passes `body` through with backpressure, counting and checksumming every byte. */
  #attach(body: Readable): void {
    if (this.destroyed) {
      body.destroy();
      return;
    }
    const generation = ++this.#generation;
    const current = () => generation === this.#generation && !this.destroyed;
    this.#body = body;
    body.on('data', (chunk: Buffer) => {
      if (!current()) return;
      this.#checksum?.update(chunk);
      this.#received += chunk.length;
      if (!this.push(chunk)) body.pause();
    });
    body.once('end', () => {
      if (!current()) return;
      const { bucket, key } = this.#options;
      // A body cut short without an error (a proxy, a server) is caught by its length, also
      // for objects without a checksum to verify: short of what the response announced, it
      // is resumed; whole but not the listed size, the object is not the one listed.
      const end = this.#responseEnd;
      if (end !== undefined && this.#received < end) {
        this.#failed(truncated(bucket, key, this.#received, end));
        return;
      }
      const size = this.#listedSize;
      if (size !== undefined && this.#received !== size) {
        this.destroy(sizeMismatch(bucket, key, this.#received, size));
        return;
      }
      this.#ended = true;
      const checksum = this.#checksum;
      if (!checksum) {
        this.push(null);
        return;
      }
      void checksum.matches().then((matches) => {
        if (this.destroyed) return;
        if (matches) this.push(null);
        else this.destroy(checksumMismatchError({ action: 'GetObject', bucket, key }));
      });
    });
    body.once('error', (err) => {
      if (current()) this.#failed(err);
    });
  }

  /** A request or body failed: resume after a backoff when it is transient and time is left. */
  #failed(err: unknown): void {
    if (this.destroyed) return;
    const aborted = this.#controller.signal.aborted || this.#options.signal?.aborted === true;
    const now = Date.now();
    this.#firstFailureAt ??= now;
    const delay = backoffDelay(++this.#retries, 250, 8000);
    const inWindow = now + delay - this.#firstFailureAt <= this.#parts.retry.windowMs;
    if (aborted || !isTransientError(err) || !inWindow) {
      this.destroy(this.#explain(err));
      return;
    }
    this.#generation++;
    this.#body?.destroy();
    this.#body = undefined;
    const { bucket, key } = this.#options;
    this.#parts.retry.log?.warn(
      {
        action: 'GetObject',
        bucket,
        key,
        attempt: this.#retries,
        delayMs: delay,
        from: this.#received,
        reason: reasonOf(err),
      },
      'object read cut off; resuming',
    );
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#open();
    }, delay);
  }

  #explain(err: unknown): Error {
    const { bucket, key, signal } = this.#options;
    return transferError(err, { action: 'GetObject', bucket, key }, signal) as Error;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#unlinkSignal();
    clearTimeout(this.#retryTimer);
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
