import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import {
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { S3WorkerError } from '../errors.js';
import { destroyOnAbort } from './destroy-on-abort.js';
import type { OpenObjectStreamOptions } from './download.js';
import { TransferErrorCode, transferError } from './transfer-error.js';

/** Options of `RangedObjectStream`: `openObjectStream`'s, with the range defaults resolved. */
export type RangedObjectStreamOptions = Omit<
  OpenObjectStreamOptions,
  'rangeThreshold' | 'rangeSize' | 'rangeConcurrency'
> & { rangeSize: number; rangeConcurrency: number };

/** Reads of one range: the SDK retries requests, not a body cut mid-way, so that is retried here. */
const RANGE_ATTEMPTS = 3;

/**
 * One object read as ranged GETs in parallel and pushed in order.
 *
 * At most `rangeConcurrency` ranges are in flight or waiting to be pushed (a window that moves
 * when the consumer takes the oldest). Each range acquires its bytes from the budget before
 * its GET is sent (see `#startRanges` for the order), is copied into one buffer of its own (no
 * pooled slab kept alive), and releases its bytes when it is handed to the consumer, which only
 * happens when the consumer asks for data (the stream's high-water mark is 0, so nothing sits
 * in its own buffer).
 *
 * Integrity: ranges are read with `If-Match` so they all come from one version. S3 sends no
 * checksum for a range, so a HeadObject (in parallel with the first ranges) fetches the
 * object's checksum; when it is a full-object CRC32 (any single PutObject, and multipart
 * uploads written by `uploadStream`), the CRC32 of the reassembled bytes is computed on the
 * fly (zlib, a few GB/s) and compared before the stream ends: a mismatch fails with
 * `CHECKSUM_MISMATCH`. Not verified on this path: CRC32C, CRC64NVME and SHA checksums, and
 * composite (per-part) multipart checksums; the byte count is always checked.
 */
export class RangedObjectStream extends Readable {
  readonly #s3: S3Client;
  readonly #o: RangedObjectStreamOptions;
  readonly #controller = new AbortController();
  readonly #unlinkSignal: () => void;
  readonly #count: number;
  /** Ranges fetched and not yet pushed, by index. */
  readonly #ready = new Map<number, Buffer>();
  readonly #bodies = new Set<Readable>();
  #nextToStart = 0;
  #nextToPush = 0;
  /** Bytes acquired from the budget and not yet released. */
  #held = 0;
  #wantData = false;
  #started = false;
  #windowWaiter: (() => void) | undefined;
  #crc = 0;
  #head: Promise<string | undefined> | undefined;

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
      this.#head = this.#expectedCrc32();
      // Without a handler a failed HEAD would be an unhandled rejection until the last range.
      this.#head.catch(() => {});
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
    const { budget, rangeConcurrency } = this.#o;
    while (this.#nextToStart < this.#count) {
      const index = this.#nextToStart;
      const length = this.#rangeLength(index);
      const ahead = index > this.#nextToPush;
      if (index >= this.#nextToPush + rangeConcurrency || (ahead && !budget.tryAcquire(length))) {
        await new Promise<void>((resolve) => {
          this.#windowWaiter = resolve;
        });
        if (this.destroyed) return;
        continue;
      }
      if (!ahead) {
        // Everything started before was pushed, so this stream holds nothing: it may be let
        // through a stalled budget.
        await budget.acquire(length, this.#controller.signal, {
          holdsNothing: () => this.#held === 0,
        });
        if (this.destroyed) {
          budget.release(length);
          return;
        }
      }
      this.#held += length;
      this.#nextToStart += 1;
      this.#fetch(index, length).then(
        (buf) => {
          this.#ready.set(index, buf);
          this.#tryPush();
        },
        (err) => this.destroy(err),
      );
    }
  }

  #rangeLength(index: number): number {
    const start = index * this.#o.rangeSize;
    return Math.min(this.#o.rangeSize, this.#o.size - start);
  }

  async #fetch(index: number, length: number): Promise<Buffer> {
    const start = index * this.#o.rangeSize;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#fetchOnce(start, length);
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata
          ?.httpStatusCode;
        const retryable = status === undefined && !this.#controller.signal.aborted;
        if (!retryable || attempt >= RANGE_ATTEMPTS) throw this.#explain(err, 'GetObject');
      }
    }
  }

  async #fetchOnce(start: number, length: number): Promise<Buffer> {
    const { bucket, key, etag, versionId } = this.#o;
    const res = await this.#s3.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        Range: `bytes=${start}-${start + length - 1}`,
        IfMatch: etag,
        VersionId: versionId,
      }),
      { abortSignal: this.#controller.signal },
    );
    const body = res.Body as Readable;
    this.#bodies.add(body);
    try {
      // Copied into a buffer of its own: slices of the socket's pooled chunks would keep whole
      // slabs alive for as long as the range waits (sdk #8286).
      const buf = Buffer.allocUnsafeSlow(length);
      let filled = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (filled + chunk.length > length) throw this.#sizeError(filled + chunk.length, length);
        chunk.copy(buf, filled);
        filled += chunk.length;
      }
      if (filled !== length) throw this.#sizeError(filled, length);
      return buf;
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

  /** Pushes the next range in order if the consumer wants data and it has arrived. */
  #tryPush(): void {
    if (!this.#wantData || this.destroyed) return;
    const index = this.#nextToPush;
    const buf = this.#ready.get(index);
    if (buf === undefined) return;
    this.#ready.delete(index);
    this.#nextToPush += 1;
    this.#wantData = false;
    // The consumer asked for data, so the range goes straight to it: from here its bytes are the
    // consumer's to account for (an upload copies them into a part it has budgeted).
    this.#o.budget.release(buf.length);
    this.#held -= buf.length;
    this.#crc = crc32(buf, this.#crc);
    const waiter = this.#windowWaiter;
    this.#windowWaiter = undefined;
    waiter?.();
    if (this.#nextToPush < this.#count) {
      this.push(buf);
      return;
    }
    // Last range: hold it back until the checksum is known to match.
    void this.#finish(buf);
  }

  async #finish(last: Buffer): Promise<void> {
    try {
      const expected = await this.#head;
      if (expected !== undefined) {
        const actual = Buffer.alloc(4);
        actual.writeUInt32BE(this.#crc >>> 0);
        if (actual.toString('base64') !== expected) {
          const { bucket, key } = this.#o;
          throw new S3WorkerError(
            `s3://${bucket}/${key} failed its CRC32 check: read ${actual.toString('base64')}, stored ${expected}`,
            {
              code: TransferErrorCode.ChecksumMismatch,
              context: { bucket, key },
              hint: 'the bytes were corrupted in transit or at rest; run again, and check the object if it persists',
            },
          );
        }
      }
      if (this.destroyed) return;
      this.push(last);
      this.push(null);
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  /** The object's full-object CRC32 (base64), or undefined when it has none this path can check. */
  async #expectedCrc32(): Promise<string | undefined> {
    const { bucket, key, etag, versionId, size } = this.#o;
    let head: HeadObjectCommandOutput;
    try {
      head = await this.#s3.send(
        new HeadObjectCommand({
          Bucket: bucket,
          Key: key,
          IfMatch: etag,
          VersionId: versionId,
          ChecksumMode: 'ENABLED',
        }),
        { abortSignal: this.#controller.signal },
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
    for (const body of this.#bodies) body.destroy();
    this.#bodies.clear();
    this.#ready.clear();
    if (this.#held > 0) this.#o.budget.release(this.#held);
    this.#held = 0;
    this.#windowWaiter?.();
    callback(err);
  }
}
