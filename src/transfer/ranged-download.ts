import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { S3WorkerError } from '../errors.js';
import type { ByteBudget } from './byte-budget.js';
import { crc32 } from './crc32.js';
import { destroyOnAbort } from './destroy-on-abort.js';
import type { DirectRequests } from './direct-requests.js';
import type { DownloadOptions } from './download-options.js';
import { reasonOf, sendWithRetry } from './send-with-retry.js';
import { TransferErrorCode, transferError } from './transfer-error.js';
import type { TransferRetry } from './transfer-parts.js';
import { BODY_TRUNCATED, retryTransient } from './transient-retry.js';

/** Options of `RangedObjectStream`: a download's, with the size known and the range settings resolved. */
export type RangedObjectStreamOptions = DownloadOptions & {
  size: number;
  /** Each ranged GET holds its range's bytes from before it is sent until the consumer took them. */
  budget: ByteBudget;
  rangeSize: number;
  rangeConcurrency: number;
  /** How a range cut mid-way (or a failed HEAD) is retried. */
  retry: TransferRetry;
  /** Sends the ranged GETs without the SDK's middleware; the SDK sends what it cannot. */
  direct?: DirectRequests | undefined;
};

/** One ranged GET: what arrived and has not been handed on yet. */
interface RangeState {
  start: number;
  length: number;
  /** Body chunks as the socket delivered them, in order, not yet pushed. */
  chunks: Buffer[];
  received: number;
  done: boolean;
}

/**
 * One object read as ranged GETs in parallel and pushed in order.
 *
 * At most `rangeConcurrency` ranges are in flight or not yet fully handed on (a window that
 * moves as the consumer reads). Each range reserves its length in the budget before its GET
 * is sent (see `#startRanges` for the order); its body chunks are kept as the socket delivered
 * them (each its own allocation, so no pooled slab is kept alive, and no copy is made) and
 * handed to the consumer one per read, releasing their bytes as they go. The stream's
 * high-water mark is 0, so nothing sits in its own buffer; the range the consumer is reading
 * streams through as it arrives.
 *
 * A body cut mid-way (reset, timeout, an early end) is resumed from the last byte received (the
 * SDK retries only whole requests), with backoff, within the transfer's retry window.
 *
 * Integrity: ranges are read with `If-Match` so they all come from one version. S3 sends no
 * checksum for a range, so a HeadObject (in parallel with the first ranges) fetches the
 * object's checksum; when it is a full-object CRC32 (any single PutObject, and multipart
 * uploads written by `uploadStream`), the CRC32 of the bytes handed on is computed on the fly
 * and compared at the end: a mismatch destroys the stream with `CHECKSUM_MISMATCH` instead of
 * ending it, so a consumer such as an upload never completes with bad bytes. Not verified on
 * this path: CRC32C, CRC64NVME and SHA checksums, and composite (per-part) multipart checksums;
 * the byte count of every range is always checked.
 */
export class RangedObjectStream extends Readable {
  readonly #s3: S3Client;
  readonly #o: RangedObjectStreamOptions;
  readonly #controller = new AbortController();
  readonly #unlinkSignal: () => void;
  readonly #count: number;
  readonly #ranges = new Map<number, RangeState>();
  readonly #bodies = new Set<Readable>();
  #nextToStart = 0;
  /** The range the consumer is reading. */
  #nextToPush = 0;
  /** Bytes reserved in the budget and not yet handed on. */
  #held = 0;
  #wantData = false;
  #started = false;
  #windowWaiter: (() => void) | undefined;
  /** The CRC32 to match (base64), `undefined` when there is none to check, `null` until the HEAD answers. */
  #expected: string | undefined | null = null;
  #crc = 0;

  constructor(s3: S3Client, options: RangedObjectStreamOptions) {
    super({ highWaterMark: 0 });
    this.#s3 = s3;
    this.#o = options;
    this.#count = Math.ceil(options.size / options.rangeSize);
    this.#unlinkSignal = destroyOnAbort(this, options.signal);
  }

  override _read(): void {
    this.#wantData = true;
    if (!this.#started) {
      this.#started = true;
      this.#expectedCrc32().then(
        (expected) => {
          this.#expected = expected;
          this.#tryPush();
        },
        (err) => this.destroy(err),
      );
      void this.#startRanges().catch((err) => this.destroy(err));
    }
    this.#tryPush();
  }

  /**
   * Starts ranges in order, never more than the window ahead of the consumer. The range the
   * consumer needs next waits for its bytes in the budget's queue; ranges beyond it are read
   * ahead only with bytes free right now (`tryAcquire`), so read-ahead never queues in front of
   * an upload waiting for a part and cannot fill the budget against its own consumer.
   */
  async #startRanges(): Promise<void> {
    const { budget, rangeConcurrency, rangeSize, size } = this.#o;
    while (this.#nextToStart < this.#count) {
      const index = this.#nextToStart;
      const start = index * rangeSize;
      const length = Math.min(rangeSize, size - start);
      const ahead = index > this.#nextToPush;
      if (index >= this.#nextToPush + rangeConcurrency || (ahead && !budget.tryAcquire(length))) {
        await new Promise<void>((resolve) => {
          this.#windowWaiter = resolve;
        });
        if (this.destroyed) return;
        continue;
      }
      if (!ahead) {
        // Everything started before was handed on, so this stream holds nothing: it may be let
        // through a stalled budget.
        await budget.acquire(length, this.#controller.signal, {
          holdsNothing: () => this.#held === 0,
          // Its consumer is waiting for it, often with a part half full.
          urgent: true,
        });
        if (this.destroyed) {
          budget.release(length);
          return;
        }
      }
      this.#held += length;
      this.#nextToStart += 1;
      const range: RangeState = { start, length, chunks: [], received: 0, done: false };
      this.#ranges.set(index, range);
      this.#fetch(range).then(
        () => this.#tryPush(),
        (err) => this.destroy(err),
      );
    }
  }

  async #fetch(range: RangeState): Promise<void> {
    const { bucket, key, retry } = this.#o;
    try {
      // Each attempt asks only for what is missing: a cut body resumes where it stopped.
      await retryTransient(() => this.#fetchOnce(range), {
        windowMs: retry.windowMs,
        signal: this.#controller.signal,
        counts: retry.counts,
        onRetry: (err, attempt, delayMs) =>
          retry.log?.warn(
            {
              action: 'GetObject',
              bucket,
              key,
              range: range.start,
              from: range.start + range.received,
              attempt,
              delayMs,
              reason: reasonOf(err),
            },
            'object read cut off; resuming',
          ),
      });
      range.done = true;
    } catch (err) {
      throw this.#explain(err, 'GetObject');
    }
  }

  /** Reads what is missing of `range` (all of it, or the rest after a cut). */
  async #fetchOnce(range: RangeState): Promise<void> {
    const { bucket, key, etag, versionId } = this.#o;
    const first = range.start + range.received;
    const last = range.start + range.length - 1;
    const bytes = `bytes=${first}-${last}`;
    const signal = this.#controller.signal;
    // Direct when it answers 206; anything else (a changed object, a refused read) is sent
    // again through the SDK, which explains it.
    const direct = await this.#o.direct?.getObject(
      { bucket, key, range: bytes, ifMatch: etag, versionId },
      signal,
    );
    const body = (direct?.body ??
      (
        await this.#s3.send(
          new GetObjectCommand({
            Bucket: bucket,
            Key: key,
            Range: bytes,
            IfMatch: etag,
            VersionId: versionId,
          }),
          { abortSignal: signal },
        )
      ).Body) as Readable;
    this.#bodies.add(body);
    try {
      // Data events, not an async iterator: no promise per 64 KiB chunk. Nothing needs pausing,
      // the range's bytes being reserved in the budget already.
      let tooLong = false;
      body.on('data', (chunk: Buffer) => {
        if (tooLong) return;
        if (range.received + chunk.length > range.length) {
          tooLong = true;
          body.destroy(this.#sizeError(range.received + chunk.length, range.length));
          return;
        }
        range.chunks.push(chunk);
        range.received += chunk.length;
        if (range === this.#ranges.get(this.#nextToPush)) this.#tryPush();
      });
      await finished(body);
      if (range.received !== range.length) {
        throw new S3WorkerError(
          `a range of s3://${this.#o.bucket}/${this.#o.key} ended after ${range.received} of ${range.length} bytes`,
          { code: BODY_TRUNCATED, context: { bucket: this.#o.bucket, key: this.#o.key } },
        );
      }
    } finally {
      this.#bodies.delete(body);
      body.destroy();
    }
  }

  #sizeError(got: number, want: number): S3WorkerError {
    const { bucket, key } = this.#o;
    return new S3WorkerError(
      `a range of s3://${bucket}/${key} returned ${got} bytes, expected ${want}`,
      {
        code: 'RANGE_SIZE_MISMATCH',
        context: { bucket, key },
        hint: 'the object changed size since it was listed, or the server ignored the Range header; run again',
      },
    );
  }

  /** Hands the consumer the next chunk in order, if it asked for one and one has arrived. */
  #tryPush(): void {
    // Nothing goes out before the HEAD says whether a checksum must be computed on the way.
    if (!this.#wantData || this.destroyed || this.#expected === null) return;
    for (;;) {
      const range = this.#ranges.get(this.#nextToPush);
      if (range === undefined) {
        if (this.#nextToPush === this.#count) this.#finish();
        return;
      }
      const chunk = range.chunks.shift();
      if (chunk !== undefined) {
        this.#wantData = false;
        // From here the bytes are the consumer's to account for (an upload copies them into a
        // part it has budgeted).
        this.#o.budget.release(chunk.length);
        this.#held -= chunk.length;
        if (this.#expected !== undefined) this.#crc = crc32(chunk, this.#crc);
        this.push(chunk);
        return;
      }
      if (!range.done) return;
      this.#ranges.delete(this.#nextToPush);
      this.#nextToPush += 1;
      const waiter = this.#windowWaiter;
      this.#windowWaiter = undefined;
      waiter?.();
    }
  }

  #finish(): void {
    // Fetches settling after the end call `#tryPush` again; only one end may be pushed.
    this.#wantData = false;
    const expected = this.#expected;
    if (typeof expected === 'string') {
      const actual = Buffer.alloc(4);
      actual.writeUInt32BE(this.#crc >>> 0);
      if (actual.toString('base64') !== expected) {
        const { bucket, key } = this.#o;
        this.destroy(
          new S3WorkerError(
            `s3://${bucket}/${key} failed its CRC32 check: read ${actual.toString('base64')}, stored ${expected}`,
            {
              code: TransferErrorCode.ChecksumMismatch,
              context: { bucket, key },
              hint: 'the bytes were corrupted in transit or at rest; run again, and check the object if it persists',
            },
          ),
        );
        return;
      }
    }
    this.push(null);
  }

  /** The object's full-object CRC32 (base64), or undefined when it has none this path can check. */
  async #expectedCrc32(): Promise<string | undefined> {
    const { bucket, key, etag, versionId, size } = this.#o;
    let head: HeadObjectCommandOutput;
    try {
      head = await sendWithRetry(
        () =>
          this.#s3.send(
            new HeadObjectCommand({
              Bucket: bucket,
              Key: key,
              IfMatch: etag,
              VersionId: versionId,
              ChecksumMode: 'ENABLED',
            }),
            { abortSignal: this.#controller.signal },
          ),
        this.#o.retry,
        { action: 'HeadObject', bucket, key },
        this.#controller.signal,
      );
    } catch (err) {
      throw this.#explain(err, 'HeadObject');
    }
    if (head.ContentLength !== undefined && head.ContentLength !== size) {
      throw this.#sizeError(head.ContentLength, size);
    }
    const value = head.ChecksumCRC32;
    if (value === undefined || value.includes('-') || head.ChecksumType === 'COMPOSITE') {
      return undefined;
    }
    return value;
  }

  #explain(err: unknown, action: string): unknown {
    const { bucket, key, signal } = this.#o;
    return transferError(err, { action, bucket, key }, signal);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#unlinkSignal();
    this.#controller.abort(err ?? new Error('stream destroyed'));
    // An unread body holds its socket forever (sdk #3560): destroy each one explicitly.
    for (const body of this.#bodies) body.destroy();
    this.#bodies.clear();
    this.#ranges.clear();
    if (this.#held > 0) this.#o.budget.release(this.#held);
    this.#held = 0;
    this.#windowWaiter?.();
    callback(err);
  }
}
