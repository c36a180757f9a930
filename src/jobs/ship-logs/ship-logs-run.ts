import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ObjectWriteOptions } from '../../transfer/object-write-options.js';
import { ABORTED, untilAborted } from '../../until-aborted.js';
import type { JobContext, JobResult } from '../job.js';
import { builtinMetric } from '../job-metrics.js';
import { BufferGarbageLimit } from '../kit/buffer-garbage-limit.js';
import { codecContentType, codecExtension } from '../kit/compression.js';
import { joinPrefix, renderTemplate } from '../kit/key-template.js';
import { sweepStaleUploads } from '../kit/sweep-stale-uploads.js';
import { taskObjectMetadata } from '../kit/task-object-metadata.js';
import { BatchUploader } from './batch-uploader.js';
import { Checkpoint } from './checkpoint.js';
import { type ShipLogsConfig, STDIN_PATH } from './config.js';
import { FileTailer } from './file-tailer.js';
import { keyFields, type ShipperTask, shipperTask } from './key-fields.js';
import { OpenBatch } from './open-batch.js';
import type { FilePosition, SourceEvent } from './source-event.js';
import { type BatchMeta, Spool } from './spool.js';
import { stdinEvents } from './stdin-source.js';

/** What a run asks of its job (the overridable parts of `LogShipperJob`). */
export interface ShipLogsHooks {
  /** The records of one chunk of lines in `--format ndjson`. */
  formatRecords(lines: Buffer, file: string, task: ShipperTask): Buffer;
  /** Options of every batch's write. */
  objectWriteOptions(): ObjectWriteOptions;
}

/** Folder under the run's scratch dir that holds the spool by default. */
export const DEFAULT_SPOOL_FOLDER = 's3worker-ship-logs';

/**
 * One run of the shipper: a reader (files or stdin) filling batches into the spool, and an
 * uploader emptying the spool into S3, side by side. The reader pauses while the spool is full;
 * a stop seals the open batch and lets the uploader empty the spool until the drain deadline.
 */
export class ShipLogsRun {
  readonly #config: ShipLogsConfig;
  readonly #log: Logger;
  /** Stops the reader gracefully: the stop signal, or the uploader failing for good. */
  readonly #readStop = new AbortController();
  /**
   * Ends reading at once: the drain deadline (`ctx.signal`), or the uploader failing for good.
   * Until then a stopping reader still waits for room in the spool.
   */
  readonly #readAbort = new AbortController();
  /** The compressor's dead output buffers, kept under a bound (see BufferGarbageLimit). */
  readonly #garbage = new BufferGarbageLimit();
  readonly #task: ShipperTask;
  /** The batch being filled, from its opening until it is in the spool. */
  #batch: OpenBatch | undefined;
  #nextSeq = 0;
  #linesRead = 0;
  #bytesRead = 0;
  #dropped = 0;
  /** The file source (none with stdin): its scans show the shipper alive while no line comes. */
  #tailer: FileTailer | undefined;
  #droppingSince: number | undefined;

  constructor(
    private readonly job: ShipLogsHooks,
    private readonly ctx: JobContext<ShipLogsConfig>,
  ) {
    this.#config = ctx.config;
    this.#log = ctx.log;
    this.#task = shipperTask(ctx.task);
  }

  async run(): Promise<JobResult> {
    const { ctx } = this;
    const config = this.#config;
    const dir = config.spoolDir ?? join(ctx.tmpDir, DEFAULT_SPOOL_FOLDER);
    const spool = await Spool.open({ dir, maxBytes: config.spoolMaxBytes, log: this.#log });
    try {
      const checkpoint = await Checkpoint.load(dir);
      this.#nextSeq = checkpoint.nextSeq(spool.lastSeq + 1);
      this.#log.info(
        {
          path: config.path,
          output: `s3://${config.output.bucket}/${config.output.prefix}`,
          spoolDir: dir,
          spooledBatches: spool.batches.length,
          spoolBytes: spool.bytes,
          nextSeq: this.#nextSeq,
          taskId: this.#task.taskId,
        },
        'ship-logs starting',
      );
      ctx.progress.addSection?.('logs', () => ({
        lines: this.#linesRead,
        scans: this.#tailer?.scans ?? 0,
        spoolBatches: spool.batches.length,
        spoolBytes: spool.bytes,
        dropped: this.#dropped,
      }));
      // The health check: acknowledged batches move it; scans and lines read show an idle
      // shipper alive only while no sealed batch waits for S3.
      ctx.progress.addHealthSignals?.({
        pending: () => spool.batches.length,
        alive: () => (this.#tailer?.scans ?? 0) + this.#linesRead,
      });
      const uploader = new BatchUploader({
        spool,
        checkpoint,
        transfer: ctx.transfer,
        bucket: config.output.bucket,
        writeOptions: this.#writeOptions(),
        rekey: (meta) => this.#key(this.#nextSeq++, new Date(meta.openedAt)),
        progress: ctx.progress,
        log: this.#log,
        signal: ctx.signal,
      });
      // Per run: a restart counts from 0, and batches spooled before it count when acknowledged.
      ctx.progress.addMetrics?.([
        builtinMetric('LinesRead', () => this.#linesRead),
        builtinMetric('LinesShipped', () => uploader.stats.lines),
        builtinMetric('LinesDropped', () => this.#dropped),
        builtinMetric('BatchesUploaded', () => uploader.stats.batches),
        builtinMetric('SpoolBytes', () => spool.bytes),
        builtinMetric('OldestUnshippedSeconds', () => this.#oldestUnshippedSeconds(spool)),
      ]);
      const stopReading = () => this.#readStop.abort();
      ctx.stopSignal.addEventListener('abort', stopReading, { once: true });
      if (ctx.stopSignal.aborted) stopReading();
      // The sweep goes before the first upload but not before reading: an S3 that does not
      // answer at start must not keep the lines from reaching the spool.
      const abortReading = () => this.#readAbort.abort();
      ctx.signal.addEventListener('abort', abortReading, { once: true });
      if (ctx.signal.aborted) abortReading();
      const uploading = this.#sweep()
        .then(() => uploader.run())
        .catch((err: unknown) => {
          stopReading();
          abortReading();
          throw err;
        });
      let readError: unknown;
      try {
        await this.#read(spool, checkpoint);
      } catch (err) {
        readError = err;
      } finally {
        uploader.finish();
        ctx.stopSignal.removeEventListener('abort', stopReading);
        ctx.signal.removeEventListener('abort', abortReading);
      }
      let uploadError: unknown;
      await uploading.catch((err: unknown) => {
        uploadError = err;
      });
      const summary = {
        lines: this.#linesRead,
        bytesRead: this.#bytesRead,
        batches: uploader.stats.batches,
        linesUploaded: uploader.stats.lines,
        bytesUploaded: uploader.stats.bytes,
        dropped: this.#dropped,
        spoolBatches: spool.batches.filter((b) => b.key !== undefined).length,
        spoolBytes: spool.bytes,
      };
      this.#log.info(summary, 'ship-logs finished');
      if (readError !== undefined) throw readError;
      if (uploadError !== undefined) throw uploadError;
      const result: JobResult = {
        objects: { done: uploader.stats.batches, skipped: 0, failed: 0 },
        bytesIn: this.#bytesRead,
        bytesOut: uploader.stats.bytes,
      };
      if (spool.batches.length > 0) result.interrupted = true;
      return result;
    } finally {
      await spool.close();
    }
  }

  /** Where reading resumes: the checkpoint, moved on by the batches already spooled. */
  #resumePositions(checkpoint: Checkpoint, spool: Spool): Map<string, FilePosition> {
    const positions = new Map(checkpoint.files);
    for (const meta of spool.batches) {
      for (const p of meta.positions) positions.set(p.id, p);
      for (const id of meta.forget) positions.delete(id);
    }
    return positions;
  }

  /** Pulls source events into batches until the source ends or reading is stopped. */
  async #read(spool: Spool, checkpoint: Checkpoint): Promise<void> {
    const config = this.#config;
    const resume = this.#resumePositions(checkpoint, spool);
    // Only the very first start honours --start-at end; after that nothing may be skipped.
    // A first start is recorded before its first read (afterFirstScan), so a crash cannot
    // make the next start a first start again; batches dropped as damaged were read before.
    const firstStart =
      !checkpoint.existed && spool.batches.length === 0 && spool.droppedBatches === 0;
    const startAt = config.startAt ?? (config.once ? 'beginning' : 'end');
    const stop = this.#readStop.signal;
    const stdin = config.path[0] === STDIN_PATH;
    const tailer = stdin
      ? undefined
      : new FileTailer({
          patterns: config.path,
          exclude: config.exclude,
          startAtEnd: firstStart && startAt === 'end',
          resume,
          ...(firstStart ? { afterFirstScan: (p) => this.#recordStart(checkpoint, p) } : {}),
          pollInterval: config.pollInterval,
          rotateWait: config.rotateWait,
          maxLineBytes: config.maxLineBytes,
          log: this.#log,
        });
    this.#tailer = tailer;
    const source =
      tailer?.events(stop, { once: config.once, abort: this.#readAbort.signal }) ??
      stdinEvents(process.stdin, stop, config.maxLineBytes);
    const events = source[Symbol.asyncIterator]();
    let batch: OpenBatch | undefined;
    let next: Promise<IteratorResult<SourceEvent>> | undefined;
    try {
      for (;;) {
        next ??= events.next();
        // Not Promise.race with a promise of the batch's age: each call would leave a reaction
        // on it holding the event read, so a batch would keep every read buffer until sealed.
        const got = batch ? await untilAborted(next, batch.aged) : await next;
        if (got === ABORTED) {
          await this.#seal(spool, batch!);
          batch = undefined;
          continue;
        }
        next = undefined;
        if (got.done) break;
        const event = got.value;
        if (event.kind !== 'lines') {
          batch ??= this.#openBatch(spool);
          batch.note(event);
          continue;
        }
        if (spool.full) {
          if (config.onSpoolFull === 'drop') {
            this.#drop(event);
            batch ??= this.#openBatch(spool);
            batch.note(event);
            continue;
          }
          // The open batch goes to the spool as it is, so the uploader can start on it.
          if (batch?.hasData) {
            await this.#seal(spool, batch);
            batch = undefined;
          }
          if (spool.full) {
            this.#log.warn(
              { spoolBytes: spool.bytes, spoolMaxBytes: spool.maxBytes },
              'spool full: reading paused',
            );
            // Also while stopping: the uploader keeps making room until the drain deadline.
            await spool.waitForSpace(this.#readAbort.signal);
            // Out of time with a full spool: these lines stay in their file, unacknowledged.
            if (spool.full) break;
            this.#log.info({ spoolBytes: spool.bytes }, 'spool has room: reading resumed');
          }
        } else if (this.#droppingSince !== undefined) {
          this.#log.warn(
            { dropped: this.#dropped, forMs: Date.now() - this.#droppingSince },
            'spool has room: no longer dropping lines',
          );
          this.#droppingSince = undefined;
        }
        batch ??= this.#openBatch(spool);
        const data =
          config.format === 'ndjson'
            ? this.job.formatRecords(event.data, event.path, this.#task)
            : event.data;
        await batch.write(data, event.lines);
        this.#garbage.add(data.length);
        batch.note(event);
        spool.setOpenBytes(batch.dataBytes);
        this.#linesRead += event.lines;
        this.#bytesRead += event.data.length;
        this.ctx.progress.addBytesIn(event.data.length);
        if (batch.rawBytes >= config.maxBatchBytes) {
          await this.#seal(spool, batch);
          batch = undefined;
        }
      }
    } finally {
      await events.return?.(undefined);
      if (batch) await this.#seal(spool, batch);
      if (this.#dropped > 0) {
        this.#log.warn({ dropped: this.#dropped }, 'lines dropped because the spool was full');
      }
    }
  }

  /**
   * Makes the first start's positions durable before its first read: without them a shipper
   * killed before its first acknowledged batch would start again at the files' ends and skip
   * every line written since the real first start.
   */
  async #recordStart(checkpoint: Checkpoint, positions: FilePosition[]): Promise<void> {
    checkpoint.recordStart(positions);
    await checkpoint.save();
    // Each file's starting offset is in its "following file" line.
    this.#log.info({ files: positions.length }, 'first start recorded');
  }

  #drop(event: Extract<SourceEvent, { kind: 'lines' }>): void {
    if (this.#droppingSince === undefined) {
      this.#droppingSince = Date.now();
      this.#log.warn(
        { spoolBytes: this.#config.spoolMaxBytes, droppedSoFar: this.#dropped },
        'spool full: dropping lines',
      );
    }
    this.#dropped += event.lines;
    this.#linesRead += event.lines;
    this.#bytesRead += event.data.length;
  }

  /**
   * Seconds since the shipper read the oldest line S3 has not acknowledged: the first line of
   * the oldest spooled batch with lines (read by the process before a restart, for a batch it
   * spooled), else the open batch's first line; 0 when every line read is in S3 (or dropped).
   * It grows while S3 is down, since spooled batches stay until acknowledged.
   */
  #oldestUnshippedSeconds(spool: Spool): number {
    const spooled = spool.batches.find((b) => b.key !== undefined);
    const since = spooled
      ? Date.parse(spooled.firstLineAt ?? spooled.openedAt)
      : this.#batch?.firstLineAt;
    return since === undefined ? 0 : Math.max(0, Date.now() - since) / 1000;
  }

  #openBatch(spool: Spool): OpenBatch {
    const config = this.#config;
    this.#batch = new OpenBatch({
      path: spool.openDataPath,
      codec: config.compression,
      ...(config.compressionLevel === undefined ? {} : { level: config.compressionLevel }),
      maxAge: config.maxBatchAge,
      budget: this.ctx.transfer.budget,
    });
    return this.#batch;
  }

  /** Seals `batch` into the spool: a batch number, a key when it has lines, its positions. */
  async #seal(spool: Spool, batch: OpenBatch): Promise<void> {
    const dataBytes = await batch.seal();
    if (!batch.hasData && batch.positions.size === 0 && batch.forget.size === 0) {
      if (this.#batch === batch) this.#batch = undefined;
      return;
    }
    const seq = this.#nextSeq++;
    const meta: BatchMeta = {
      seq,
      batchId: randomUUID(),
      openedAt: batch.openedAt.toISOString(),
      lines: batch.lines,
      rawBytes: batch.rawBytes,
      dataBytes,
      positions: [...batch.positions.values()],
      forget: [...batch.forget],
    };
    if (batch.hasData) {
      meta.key = this.#key(seq, batch.openedAt);
      if (batch.firstLineAt !== undefined) {
        meta.firstLineAt = new Date(batch.firstLineAt).toISOString();
      }
      this.ctx.progress.addTotal(1, 0);
    }
    await spool.add(meta);
    if (this.#batch === batch) this.#batch = undefined;
    this.#log.debug(
      { seq, key: meta.key, lines: meta.lines, rawBytes: meta.rawBytes, dataBytes },
      'batch sealed',
    );
  }

  /** The job's write options, with the user metadata that names the ECS task (none outside ECS). */
  #writeOptions(): ObjectWriteOptions {
    const options = this.job.objectWriteOptions();
    const task = taskObjectMetadata(this.ctx.task);
    if (Object.keys(task).length === 0) return options;
    return { ...options, metadata: { ...options.metadata, ...task } };
  }

  #key(seq: number, openedAt: Date): string {
    const config = this.#config;
    const ext =
      (config.format === 'ndjson' ? '.ndjson' : '.log') + codecExtension(config.compression);
    const rel = renderTemplate(config.keyTemplate, keyFields(this.#task, { seq, openedAt, ext }));
    return joinPrefix(config.output.prefix, rel);
  }

  /** Aborts what a killed shipper left under the output prefix; a failure only warns. */
  async #sweep(): Promise<void> {
    const config = this.#config;
    await sweepStaleUploads(this.ctx.transfer, {
      output: config.output,
      olderThan: config.sweepAge,
      log: this.#log,
      signal: this.ctx.signal,
    });
  }
}

/**
 * The Content-Type and Content-Encoding of batches in this config. By default (`codec`) the
 * lines' type with the codec as Content-Encoding, as the S3 outputs of Fluent Bit and Vector
 * write them; with `--content-encoding none` the codec's own type and no encoding, so an HTTP
 * client that inflates encoded bodies downloads the `.gz` file as it is.
 */
export function batchContentHeaders(config: ShipLogsConfig): {
  contentType: string;
  contentEncoding?: string;
} {
  const linesType =
    config.format === 'ndjson' ? 'application/x-ndjson' : 'text/plain; charset=utf-8';
  const codecType = codecContentType(config.compression);
  if (codecType === undefined) return { contentType: linesType };
  if (config.contentEncoding === 'none') return { contentType: codecType };
  return { contentType: linesType, contentEncoding: config.compression };
}
