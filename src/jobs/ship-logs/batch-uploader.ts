import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import { ExitCode, type ExitCodeValue, S3WorkerError } from '../../errors.js';
import { explainS3Error } from '../../s3/explain-error.js';
import type { ObjectWriteOptions } from '../../transfer/object-write-options.js';
import type { Transfer } from '../../transfer/transfer.js';
import { TransferErrorCode } from '../../transfer/transfer-error.js';
import type { UploadResult } from '../../transfer/upload.js';
import type { ProgressReporter } from '../job.js';
import type { Checkpoint } from './checkpoint.js';
import type { BatchMeta, Spool } from './spool.js';

/** Metadata naming the batch an object holds (see {@link BatchMeta.batchId}). */
export const BATCH_ID_METADATA = 's3worker-batch-id';

/** Errors no retry can fix: the run stops (the spool keeps the batches for the next start). */
const FATAL_EXIT_CODES = new Set<ExitCodeValue>([
  ExitCode.AccessDenied,
  ExitCode.NoSuchBucket,
  ExitCode.WrongRegion,
]);

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

/** Options of {@link BatchUploader}. */
export interface BatchUploaderOptions {
  spool: Spool;
  checkpoint: Checkpoint;
  transfer: Transfer;
  bucket: string;
  /** Object write options shared by every batch (content type, SSE, tags, ...). */
  writeOptions: ObjectWriteOptions;
  /** A new key for a batch whose key is taken by another writer's object. */
  rekey: (meta: BatchMeta) => string;
  progress: ProgressReporter;
  log: Logger;
  /** Aborts uploads in flight (the drain deadline). */
  signal: AbortSignal;
}

/**
 * Uploads the spool's batches one after the other, oldest first, and only then moves the
 * checkpoint and removes the batch: a line leaves the local disk only once S3 has it. Failures
 * are retried with backoff (1 s doubling to 30 s) for as long as it takes (an outage only grows
 * the spool), except access denied, missing bucket and wrong region, which stop the run.
 *
 * Every write is conditional (`If-None-Match: *`): a key that exists already is either this
 * batch's own upload from before a crash (same batch id in its metadata: acknowledged without a
 * second copy) or another writer's object (the batch gets a new key), so keys never collide.
 */
export class BatchUploader {
  readonly #o: BatchUploaderOptions;
  readonly #wake = new AbortController();
  #finishing = false;
  /** Batches with lines uploaded, their lines and compressed bytes. */
  readonly stats = { batches: 0, lines: 0, bytes: 0 };

  constructor(options: BatchUploaderOptions) {
    this.#o = options;
  }

  /** Upload what is spooled, then return (instead of waiting for more). */
  finish(): void {
    this.#finishing = true;
    this.#wake.abort();
  }

  /** Runs until `finish` was called and the spool is empty; throws on abort or a fatal error. */
  async run(): Promise<void> {
    const { spool, checkpoint, signal } = this.#o;
    const waitSignal = AbortSignal.any([signal, this.#wake.signal]);
    for (;;) {
      signal.throwIfAborted();
      const meta = spool.batches[0];
      if (!meta) {
        if (this.#finishing) return;
        await spool.waitForBatch(waitSignal);
        continue;
      }
      if (meta.key !== undefined) await this.#uploadWithRetry(meta);
      checkpoint.apply(meta);
      await checkpoint.save();
      await spool.remove(meta);
      if (meta.key !== undefined) {
        this.stats.batches++;
        this.stats.lines += meta.lines;
        this.stats.bytes += meta.dataBytes;
        this.#o.progress.addBytesOut(meta.dataBytes);
        this.#o.progress.objectDone('done');
      }
    }
  }

  async #uploadWithRetry(meta: BatchMeta): Promise<void> {
    const { log, signal } = this.#o;
    let delay = FIRST_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#upload(meta);
        if (attempt > 1) log.info({ key: meta.key, attempt }, 'batch uploaded after retries');
        return;
      } catch (err) {
        if (signal.aborted) throw signal.reason ?? err;
        if (err instanceof S3WorkerError && FATAL_EXIT_CODES.has(err.exitCode)) throw err;
        log.warn(
          {
            err,
            key: meta.key,
            attempt,
            retryInMs: delay,
            spoolBytes: this.#o.spool.bytes,
            spoolBatches: this.#o.spool.batches.length,
          },
          'batch upload failed; retrying',
        );
        await sleep(delay * (0.5 + Math.random() / 2), undefined, { signal }).catch(() => {});
        delay = Math.min(delay * 2, MAX_RETRY_MS);
      }
    }
  }

  /** One attempt: the conditional upload, and what to do when the key exists. */
  async #upload(meta: BatchMeta): Promise<void> {
    const { spool, log } = this.#o;
    const key = meta.key!;
    try {
      const result = await this.#send(meta, key);
      log.info(
        {
          key,
          lines: meta.lines,
          rawBytes: meta.rawBytes,
          bytes: result.bytes,
          parts: result.parts,
        },
        'batch uploaded',
      );
    } catch (err) {
      if (!(err instanceof S3WorkerError && err.code === TransferErrorCode.ObjectExists)) throw err;
      if (await this.#isOwnUpload(key, meta.batchId)) {
        log.info({ key }, 'batch was uploaded before a restart; not uploaded again');
        return;
      }
      meta.key = this.#o.rekey(meta);
      await spool.update(meta);
      log.warn({ taken: key, key: meta.key }, 'batch key is taken by another object; new key');
      await this.#upload(meta);
    }
  }

  /** The spool file of `meta` to `key`, read straight into the part buffers (see UploadFileBody). */
  async #send(meta: BatchMeta, key: string): Promise<UploadResult> {
    const { transfer, spool, bucket, writeOptions, signal } = this.#o;
    const file = await open(spool.dataPath(meta.seq), 'r');
    try {
      return await transfer.upload({
        ...writeOptions,
        bucket,
        key,
        body: { file },
        expectedBytes: meta.dataBytes,
        ifNoneMatch: true,
        metadata: {
          ...writeOptions.metadata,
          [BATCH_ID_METADATA]: meta.batchId,
          's3worker-lines': String(meta.lines),
        },
        signal,
      });
    } finally {
      await file.close();
    }
  }

  async #isOwnUpload(key: string, batchId: string): Promise<boolean> {
    const { transfer, bucket, signal } = this.#o;
    try {
      const head = await transfer.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: signal,
      });
      return head.Metadata?.[BATCH_ID_METADATA] === batchId;
    } catch (err) {
      if (signal.aborted) throw err;
      // Without s3:GetObject the key cannot be told apart: a new key costs a copy, never a loss.
      this.#o.log.warn(
        { err: explainS3Error(err, { action: 'HeadObject', bucket, key }), key },
        'could not read the existing object at a batch key; treating it as another writer',
      );
      return false;
    }
  }
}
