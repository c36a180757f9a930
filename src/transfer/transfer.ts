import type { Readable } from 'node:stream';
import type { S3Client, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-s3';
import type { HttpHandlerOptions } from '@smithy/types';
import type { Logger } from 'pino';
import { TRANSFER_DEFAULTS, type TransferSettings } from '../config/transfer-options.js';
import { type ListedObject, type ListObjectsOptions, listObjects } from '../s3/list-objects.js';
import type { RequestCounts } from '../s3/request-counts.js';
import type { S3Command, S3Sender } from '../s3/s3-sender.js';
import { ByteBudget } from './byte-budget.js';
import { DirectRequests } from './direct-requests.js';
import { openObjectStream, type ReadSmallObjectOptions, readSmallObject } from './download.js';
import type { DownloadOptions } from './download-options.js';
import { PartBufferPool } from './part-buffer-pool.js';
import { sendWithRetry } from './send-with-retry.js';
import type { TransferParts, TransferRetry } from './transfer-parts.js';
import {
  type PutObjectOptions,
  putSmallObject,
  type UploadOptions,
  type UploadResult,
  uploadStream,
} from './upload.js';

/** Options of `new Transfer()`. */
export interface TransferOptions extends Partial<TransferSettings> {
  /**
   * A budget to draw on instead of a new one of `maxBufferedBytes`: transfers that share one
   * budget share one bound on memory. Default: a new budget.
   */
  budget?: ByteBudget | undefined;
  /**
   * Send the GET and PUT of objects smaller than one part, and the ranged GETs and UploadParts
   * of larger ones, without the SDK's middleware (signed by its signer, sent by its HTTP
   * handler): about 3× less CPU per small object, a millisecond less per part. A 5xx, 429 or
   * network error is retried direct under the client's retry strategy; any other error answer
   * is sent again through the SDK, which explains it. Default true.
   */
  directRequests?: boolean | undefined;
  /**
   * Sign direct PUTs with `UNSIGNED-PAYLOAD`, as the client does (`CreatedS3Client.unsignedPayload`).
   * Default false (the body's SHA-256 is signed).
   */
  unsignedPayload?: boolean | undefined;
  /** Gets a debug line for each small request that went through the SDK instead, with why. */
  log?: Logger | undefined;
  /**
   * Counts the retries and throttled answers of requests the client does not see (direct
   * requests, the retry window's); the run's one `RequestCounts`, also given to its client.
   */
  counts?: RequestCounts | undefined;
}

/**
 * One run's transfers: every upload and download of every job goes through it, so they share
 * one bound on buffered memory, one pool of part buffers and one fast path for small objects.
 * The runtime creates it with the run's S3 client and transfer options and hands it to the job
 * as `ctx.transfer`; tests and scripts may create their own.
 *
 * Memory: at most `maxBufferedBytes` (default 128 MiB) of object data is held at once by all
 * uploads (parts filling and in flight) and ranged downloads (ranges read ahead) together, plus
 * the stream buffers of single GETs (64 KiB each).
 */
export class Transfer implements TransferParts, S3Sender {
  readonly s3: S3Client;
  readonly budget: ByteBudget;
  readonly buffers: PartBufferPool;
  readonly direct: DirectRequests | undefined;
  readonly retry: TransferRetry;
  /** The resolved options: each one given, else its default. */
  readonly settings: TransferSettings;
  #bytesStored = 0;

  constructor(s3: S3Client, options: TransferOptions = {}) {
    this.s3 = s3;
    this.settings = {
      partSize: options.partSize ?? TRANSFER_DEFAULTS.partSize,
      queueSize: options.queueSize ?? TRANSFER_DEFAULTS.queueSize,
      maxBufferedBytes:
        options.budget?.limit ?? options.maxBufferedBytes ?? TRANSFER_DEFAULTS.maxBufferedBytes,
      rangeThreshold: options.rangeThreshold ?? TRANSFER_DEFAULTS.rangeThreshold,
      rangeSize: options.rangeSize ?? TRANSFER_DEFAULTS.rangeSize,
      rangeConcurrency: options.rangeConcurrency ?? TRANSFER_DEFAULTS.rangeConcurrency,
      retryWindow: options.retryWindow ?? TRANSFER_DEFAULTS.retryWindow,
    };
    this.retry = { windowMs: this.settings.retryWindow, log: options.log, counts: options.counts };
    this.budget = options.budget ?? new ByteBudget(this.settings.maxBufferedBytes);
    this.buffers = new PartBufferPool(this.settings.maxBufferedBytes);
    this.direct =
      options.directRequests === false
        ? undefined
        : new DirectRequests(s3, {
            unsignedPayload: options.unsignedPayload === true,
            ...(options.counts ? { counts: options.counts } : {}),
            ...(options.log ? { log: options.log } : {}),
          });
  }

  /**
   * Bytes S3 acknowledged storing so far: every part and single PUT it answered, by every
   * upload of the run. Unlike bytes read or handed to an upload, it never moves while S3
   * refuses or stalls the writes, so the health check counts it as progress.
   */
  get bytesStored(): number {
    return this.#bytesStored;
  }

  noteStored(bytes: number): void {
    this.#bytesStored += bytes;
  }

  /**
   * Streams `body` into `bucket/key`: one PutObject when it is smaller than one part, otherwise a
   * multipart upload with `queueSize` parts in flight, each part taken from the budget before it
   * fills. The length need not be known. On any error or abort the multipart upload is aborted,
   * so nothing half-written stays behind, and the body is destroyed. See `uploadStream`.
   */
  upload(options: UploadOptions): Promise<UploadResult> {
    return uploadStream(this, {
      ...options,
      partSize: options.partSize ?? this.settings.partSize,
      queueSize: options.queueSize ?? this.settings.queueSize,
    });
  }

  /**
   * One S3 request through the SDK, sent again after a transient failure (reset, timeout, 5xx,
   * 503 SlowDown) that the SDK's own attempts did not get past, with backoff, for up to the
   * retry window (`--retry-window`), each retry logged. Every request a job sends besides its
   * uploads and downloads goes through here: listings, HEADs, small GETs, deletes. A request
   * whose body is a stream is sent once (a stream cannot be sent again): use `upload` for those.
   */
  send<I extends ServiceInputTypes, O extends ServiceOutputTypes>(
    command: S3Command<I, O>,
    options: HttpHandlerOptions = {},
  ): Promise<O> {
    const input = command.input as {
      Bucket?: unknown;
      Key?: unknown;
      Prefix?: unknown;
      Body?: unknown;
    };
    if (isStream(input.Body)) return this.s3.send(command, options);
    return sendWithRetry(
      () => this.s3.send(command, options),
      this.retry,
      {
        action: command.constructor.name.replace(/Command$/, ''),
        bucket: String(input.Bucket ?? ''),
        key: String(input.Key ?? input.Prefix ?? ''),
      },
      options.abortSignal as AbortSignal | undefined,
    );
  }

  /**
   * Every object under `bucket/prefix`, one page at a time (see `listObjects`), each page
   * request retried like `send`.
   */
  list(options: ListObjectsOptions): AsyncGenerator<ListedObject, void, undefined> {
    return listObjects(this, options);
  }

  /** One PutObject of a body already in memory (a manifest, a report, a small object). */
  putObject(options: PutObjectOptions): Promise<UploadResult> {
    return putSmallObject(this, options);
  }

  /**
   * A readable stream of one object's bytes, verified against its checksum: one GET, or ranged
   * GETs in parallel for objects of at least `rangeThreshold` bytes (when `size` is given),
   * each range held in the budget until read.
   */
  download(options: DownloadOptions): Readable {
    return openObjectStream(this, options, this.settings);
  }

  /**
   * A whole small object in one buffer of its listed size, by a direct GET (size and checksum
   * verified). `undefined` when direct requests are off or the GET did not answer 200: read it
   * with `download` then, which explains any error.
   */
  readSmallObject(options: ReadSmallObjectOptions): Promise<Buffer | undefined> {
    return readSmallObject(this, options);
  }
}

/** True for a Node or web stream, which a retry could not send again. */
function isStream(body: unknown): boolean {
  if (body === null || typeof body !== 'object') return false;
  return (
    typeof (body as { pipe?: unknown }).pipe === 'function' ||
    typeof (body as { getReader?: unknown }).getReader === 'function'
  );
}
