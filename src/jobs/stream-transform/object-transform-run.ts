import { Transform } from 'node:stream';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { S3WorkerError } from '../../errors.js';
import { explainS3Error } from '../../s3/explain-error.js';
import { TransferErrorCode } from '../../transfer/transfer-error.js';
import type { JobClass, JobContext, JobResult } from '../job.js';
import { describeFailure, FailureReport } from '../kit/failure-report.js';
import {
  isUnderFolder,
  joinPrefix,
  normaliseRelativeKey,
  prefixFolder,
  relativeKey,
} from '../kit/key-template.js';
import { outputFingerprint } from '../kit/output-fingerprint.js';
import { OutputKeyClaims } from '../kit/output-key-claims.js';
import { OutputKeyCollisionError } from '../kit/output-key-collision-error.js';
import { objectWriteOptions } from '../kit/output-options.js';
import { sweepStaleUploads } from '../kit/sweep-stale-uploads.js';
import { taskObjectMetadata } from '../kit/task-object-metadata.js';
import { runChain, type TransformSpec, toStages } from '../kit/transforms.js';
import { type Outcome, WorkLoop } from '../kit/work-loop.js';
import type { StreamTransformConfig } from './config.js';
import { KeyOutsideInputError, OutputExistsError } from './errors.js';
import { createObjectFilter } from './filters.js';
import { goneSinceReport } from './gone-since-report.js';
import { readKeysFile } from './keys-file.js';
import { goneSinceEvent } from './queue/gone-since-event.js';
import { QueueSource } from './queue/queue-source.js';
import { reportEntries } from './report-entries.js';
import {
  checkOutput,
  type RecordedSource,
  type SourceRecord,
  sameSource,
  sourceMetadata,
} from './resume.js';
import { inShard, resolveShard, type Shard } from './shard.js';
import { OWN_FOLDER, type SourceEntry, type SourceObject } from './source-object.js';

/** What a run asks of its job: the hooks a subclass of `ObjectTransformJob` may override. */
export interface ObjectTransformHooks {
  readonly config: StreamTransformConfig;
  filter(object: SourceObject): boolean | Promise<boolean>;
  outputKey(object: SourceObject): string;
  transform(object: SourceObject): TransformSpec | Promise<TransformSpec>;
  transformId(): string;
  outputSettings(): Record<string, unknown>;
  contentType(object: SourceObject, outputKey: string): string;
}

/** The state of one `run()`: counters, the loop, the report. Kept apart so the job class stays a plain template. */
export class ObjectTransformRun {
  private readonly config: StreamTransformConfig;
  private readonly report: FailureReport;
  private readonly loop: WorkLoop<SourceEntry>;
  private bytesIn = 0;
  private bytesOut = 0;
  /** The output prefix was empty at start: no per-object resume check (see outputIsEmpty). */
  private freshOutput = false;
  private readonly builtinFilter: ReturnType<typeof createObjectFilter>;
  /**
   * Output keys of the objects in flight: a second input mapping to one fails instead of
   * overwriting. Released once each object settled, in every mode, so memory does not grow with
   * the objects done; an output written earlier is guarded by S3 (see `OutputKeyClaims`). A dry
   * run writes nothing S3 could refuse a later input with, so it keeps its claims to the end.
   */
  private readonly claims = new OutputKeyClaims();
  /** The settings digest every output of this run records (see `outputSettings`). */
  private readonly fingerprint: string;

  constructor(
    private readonly job: ObjectTransformHooks,
    private readonly ctx: JobContext<StreamTransformConfig>,
  ) {
    this.config = job.config;
    this.fingerprint = outputFingerprint(job.outputSettings());
    this.builtinFilter = createObjectFilter(this.config);
    this.report = new FailureReport({
      runId: ctx.runId,
      job: (job.constructor as JobClass).jobName,
      input: `s3://${this.config.input.bucket}/${this.config.input.prefix}`,
      output: `s3://${this.config.output.bucket}/${this.config.output.prefix}`,
    });
    this.loop = new WorkLoop<SourceEntry>({
      concurrency: this.config.concurrency,
      stopSignal: ctx.stopSignal,
      signal: ctx.signal,
      maxFailures: this.config.maxFailures,
      log: ctx.log,
      process: (entry) => this.processEntry(entry),
      onError: (entry, err) => this.report1(entry.key, undefined, err),
      onOutcome: (outcome) => ctx.progress.objectDone(outcome),
      onSettled: (entry, outcome) => entry.settled?.(outcome),
    });
  }

  async run(): Promise<JobResult> {
    const { ctx, config } = this;
    // A queue is shared without sharding (an AWS Batch array's variables must not split it).
    const shard = resolveShard(config.queue === undefined ? config.shard : '0/1');
    ctx.log.info(
      {
        input: this.report.toJSON().input,
        output: this.report.toJSON().output,
        transform: config.transform,
        shard: `${shard.index}/${shard.count}`,
        concurrency: config.concurrency,
        dryRun: config.dryRun,
      },
      'stream-transform starting',
    );
    await this.sweep();
    this.freshOutput = await this.outputIsEmpty();
    const queue = await this.openQueue();

    let outcome: Awaited<ReturnType<WorkLoop<SourceEntry>['run']>> | undefined;
    let error: unknown;
    try {
      // A report shards itself (by data file or by key: see reportEntries).
      const reported = config.inventory !== undefined || config.manifest !== undefined;
      outcome = await this.loop.run(
        this.accepted(
          reported ? { index: 0, count: 1 } : shard,
          queue?.entries() ?? this.entries(shard),
        ),
      );
    } catch (err) {
      error = err;
    } finally {
      await queue?.close();
    }
    // Failures are reported even when the run stops on a fatal or listing error.
    const failureReport = await this.writeReport();
    if (error !== undefined || outcome === undefined) throw error;
    const interrupted =
      queue?.interrupted === true ||
      ((ctx.stopSignal.aborted || ctx.signal.aborted) &&
        (!outcome.complete || outcome.aborted > 0));
    const result: JobResult = {
      objects: { ...outcome.counts, listed: outcome.listed },
      skippedBy: outcome.skippedBy,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
    };
    if (interrupted) result.interrupted = true;
    if (failureReport !== undefined) result.failureReport = failureReport;
    ctx.log.info(
      {
        ...result,
        stopReason: outcome.stopReason,
        budgetHighWaterMark: ctx.transfer.budget.highWaterMark,
        outputKeyClaims: this.claims.size,
        ...(queue ? { queue: queue.stats() } : {}),
      },
      'stream-transform finished',
    );
    return result;
  }

  /** Queue mode: the objects named by the queue's messages instead of a listing (queue/). */
  private async openQueue(): Promise<QueueSource | undefined> {
    const { queue } = this.config;
    if (queue === undefined) return undefined;
    return QueueSource.open({
      config: { ...this.config, queue },
      ctx: this.ctx,
      isOwnOutput: (key) => this.isOwnOutput(key),
    });
  }

  /** The entries of this shard that the filters accept (those known before a HeadObject), counted into the total. */
  private async *accepted(
    shard: ReturnType<typeof resolveShard>,
    source: AsyncIterable<SourceEntry> = this.entries(),
  ): AsyncGenerator<SourceEntry> {
    for await (const entry of source) {
      if (!inShard(entry.key, shard)) {
        this.loop.skip('other-shard');
        continue;
      }
      if (entry.object) {
        if (!(await this.accepts(entry.object))) {
          this.loop.skip('filtered');
          entry.settled?.('filtered');
          continue;
        }
        this.ctx.progress.addTotal(1, entry.object.size);
      }
      yield entry;
    }
  }

  /**
   * True when the output prefix holds no object at start (one ListObjectsV2 of one key), so no
   * object needs a resume check: a first run then costs GET + PUT per object, not HEAD + GET +
   * PUT. Only with If-None-Match (no `overwrite`), which still stops a second writer; a refused
   * or failed listing just means "check each object".
   */
  private async outputIsEmpty(): Promise<boolean> {
    const { config, ctx } = this;
    if (config.overwrite || config.dryRun) return false;
    try {
      const page = await ctx.transfer.send(
        new ListObjectsV2Command({
          Bucket: config.output.bucket,
          Prefix: config.output.prefix === '' ? undefined : prefixFolder(config.output.prefix),
          MaxKeys: 1,
        }),
        { abortSignal: ctx.signal },
      );
      return (page.KeyCount ?? page.Contents?.length ?? 0) === 0;
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      ctx.log.debug({ err }, 'could not list the output prefix; checking each output instead');
      return false;
    }
  }

  /** Aborts what a killed task left under the output prefix; a failure here only warns. */
  private async sweep(): Promise<void> {
    const { config, ctx } = this;
    if (config.dryRun) return;
    await sweepStaleUploads(ctx.transfer, {
      output: config.output,
      olderThan: config.sweepAge,
      log: ctx.log,
      signal: ctx.signal,
    });
  }

  /** Listed objects, the keys file's keys, or a report's objects; never the whole list in memory. */
  private async *entries(shard: Shard = { index: 0, count: 1 }): AsyncGenerator<SourceEntry> {
    const { config, ctx } = this;
    const { input } = config;
    if (config.inventory !== undefined || config.manifest !== undefined) {
      yield* reportEntries({
        config,
        ctx,
        shard,
        skip: (reason) => this.loop.skip(reason),
        isOwnOutput: (key) => this.isOwnOutput(key),
      });
      return;
    }
    if (config.keys !== undefined) {
      for await (const key of readKeysFile(config.keys, ctx.transfer, ctx.signal)) {
        if (this.isOwnOutput(key)) this.loop.skip('own-output');
        else yield { key };
      }
      return;
    }
    const listing = ctx.transfer.list({
      bucket: input.bucket,
      prefix: input.prefix,
      signal: ctx.signal,
    });
    try {
      for await (const o of listing) {
        if (this.isOwnOutput(o.key)) {
          this.loop.skip('own-output');
          continue;
        }
        yield {
          key: o.key,
          object: { ...o, bucket: input.bucket, relKey: relativeKey(o.key, input.prefix) },
        };
      }
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      throw explainS3Error(err, {
        action: 'ListObjectsV2',
        bucket: input.bucket,
        key: input.prefix,
      });
    }
  }

  /**
   * Keys this job writes itself, when they sit inside the input: its report folder, and the
   * whole output folder when it is nested in the input prefix (`in/` → `in/out/`), so a run
   * never reads its own outputs back as inputs. Compared on `/` boundaries: output `in/out`
   * writes below `in/out/`, so `in/outgoing.csv` is an input like any other.
   */
  private isOwnOutput(key: string): boolean {
    const { input, output } = this.config;
    if (input.bucket !== output.bucket) return false;
    if (key.startsWith(joinPrefix(output.prefix, OWN_FOLDER))) return true;
    const folder = prefixFolder(output.prefix);
    const nested = folder.length > input.prefix.length && folder.startsWith(input.prefix);
    return nested && isUnderFolder(key, output.prefix);
  }

  private async accepts(object: SourceObject): Promise<boolean> {
    return this.builtinFilter(object) && (await this.job.filter(object));
  }

  private async processEntry(entry: SourceEntry): Promise<Outcome> {
    const { ctx } = this;
    let object = entry.object;
    let outputKey: string | undefined;
    let claimed: string | undefined;
    try {
      if (object === undefined) {
        object = await this.headSource(entry.key, entry.versionId);
        if (!(await this.accepts(object))) return 'filtered';
        ctx.progress.addTotal(1, object.size);
      }
      const { output } = this.config;
      outputKey = joinPrefix(
        output.prefix,
        normaliseRelativeKey(this.job.outputKey(object), object.key),
      );
      if (!this.claims.claim(outputKey, object.key))
        throw new OutputKeyCollisionError(object.key, outputKey);
      claimed = outputKey;
      return await this.processObject(object, outputKey);
    } catch (err) {
      if (ctx.signal.aborted) return 'aborted';
      if (entry.object === undefined && object === undefined) ctx.progress.addTotal(1, 0);
      const gone = entry.fromReport === true ? goneSinceReport(err) : undefined;
      if (gone !== undefined) {
        ctx.log.info(
          { key: entry.key, code: (err as S3WorkerError).code, reason: gone },
          'object changed or deleted since the report; skipped',
        );
        return { skipped: gone };
      }
      if (entry.settled !== undefined && goneSinceEvent(err)) {
        ctx.log.info(
          { key: entry.key, code: (err as S3WorkerError).code },
          'object changed or deleted since its event; skipped',
        );
        return 'skipped';
      }
      this.loop.noteFailure(err);
      this.report1(entry.key, outputKey, err);
      return 'failed';
    } finally {
      // The key is freed once its object settled: from then on the output's If-None-Match and
      // recorded source refuse another input for it (processObject), as another task's.
      if (claimed !== undefined && !this.config.dryRun) this.claims.release(claimed);
    }
  }

  /** Keys mode, manifests: size, ETag and date of a named key, or of its named version (one HeadObject). */
  private async headSource(key: string, versionId?: string): Promise<SourceObject> {
    const { input } = this.config;
    if (!key.startsWith(input.prefix))
      throw new KeyOutsideInputError(input.bucket, key, input.prefix);
    const { signal } = this.ctx;
    const head = await this.ctx.transfer
      .send(new HeadObjectCommand({ Bucket: input.bucket, Key: key, VersionId: versionId }), {
        abortSignal: signal,
      })
      .catch((err: unknown) => {
        throw signal.aborted
          ? err
          : explainS3Error(err, { action: 'HeadObject', bucket: input.bucket, key });
      });
    return {
      bucket: input.bucket,
      key,
      relKey: relativeKey(key, input.prefix),
      size: head.ContentLength ?? 0,
      etag: head.ETag ?? '',
      lastModified: head.LastModified ?? new Date(0),
      ...(versionId === undefined ? {} : { versionId }),
    };
  }

  private async processObject(object: SourceObject, outputKey: string): Promise<Outcome> {
    const { config, ctx } = this;
    // Fields inline, not a child logger: pino compiles redaction for each child, which cost
    // about 1 ms of CPU per object in a profile of many small objects.
    const where = { key: object.key, outputKey };
    const { log } = ctx;
    const source: SourceRecord = {
      bucket: object.bucket,
      key: object.key,
      etag: object.etag,
      size: object.size,
      transform: this.job.transformId(),
      fingerprint: this.fingerprint,
    };
    // An output prefix empty at start has nothing to resume: skip the HeadObject and let
    // If-None-Match catch an output another task wrote meanwhile (handled below).
    const state = this.freshOutput
      ? ({ kind: 'absent' } as const)
      : await checkOutput(ctx.transfer, config.output.bucket, outputKey, source, ctx.signal);
    if (state.kind === 'current') {
      log.debug(where, 'output is current; skipped');
      return 'skipped';
    }
    // Written from another input (an earlier run, another shard): never replaced, even with
    // --overwrite, which is for outputs whose own source changed.
    if (state.kind === 'different' && state.source && !sameSource(state.source, source)) {
      throw new OutputKeyCollisionError(object.key, outputKey, recordedKey(state.source));
    }
    if (state.kind === 'different' && !config.overwrite) {
      throw new OutputExistsError(config.output.bucket, outputKey, object.key);
    }
    if (config.dryRun) {
      log.info(
        { ...where, action: state.kind === 'absent' ? 'write' : 'overwrite' },
        'dry run: would write',
      );
      return 'done';
    }
    try {
      // A key found empty is written with If-None-Match even with --overwrite: nothing is
      // replaced, and an input racing for it (another task's) is refused, not overwritten.
      await this.write(object, outputKey, source, !config.overwrite || state.kind === 'absent');
    } catch (err) {
      // Written since our check (or since the start, when the prefix was empty): by another
      // task, or by an earlier input of this run whose claim was released.
      if (isRefusedWrite(err)) {
        const now = await checkOutput(
          ctx.transfer,
          config.output.bucket,
          outputKey,
          source,
          ctx.signal,
        );
        if (now.kind === 'current') return 'skipped';
        if (now.kind === 'different' && now.source && !sameSource(now.source, source))
          throw new OutputKeyCollisionError(object.key, outputKey, recordedKey(now.source));
        // A 409 whose rival has not finished yet is its own error: a run again settles it.
        if (isPreconditionFailed(err))
          throw new OutputExistsError(config.output.bucket, outputKey, object.key);
      }
      throw err;
    }
    log.debug({ ...where, size: object.size }, 'object written');
    return 'done';
  }

  /** GET → transform chain → multipart PUT, all streaming; one error tears all three down. */
  private async write(
    object: SourceObject,
    outputKey: string,
    source: SourceRecord,
    ifNoneMatch: boolean,
  ): Promise<void> {
    const { config, ctx } = this;
    const { transfer } = ctx;
    const stages = toStages(await this.job.transform(object));
    const countIn = (n: number) => {
      this.bytesIn += n;
      ctx.progress.addBytesIn(n);
    };
    const countOut = (n: number) => {
      this.bytesOut += n;
      ctx.progress.addBytesOut(n);
    };
    const written = objectWriteOptions(config);
    const output = {
      ...written,
      bucket: config.output.bucket,
      key: outputKey,
      ifNoneMatch,
      contentType: this.job.contentType(object, outputKey),
      metadata: { ...written.metadata, ...taskObjectMetadata(ctx.task), ...sourceMetadata(source) },
      signal: ctx.signal,
    };
    // A copy of an object smaller than a part: one GET into one buffer, one PUT, no stream.
    if (stages.length === 0 && object.size < transfer.settings.partSize) {
      await transfer.budget.acquire(object.size, ctx.signal, { holdsNothing: () => true });
      try {
        const bytes = await transfer.readSmallObject({
          bucket: object.bucket,
          key: object.key,
          size: object.size,
          etag: object.etag,
          versionId: object.versionId,
          signal: ctx.signal,
        });
        if (bytes) {
          countIn(bytes.length);
          await transfer.putObject({ ...output, body: bytes });
          countOut(bytes.length);
          return;
        }
      } finally {
        transfer.budget.release(object.size);
      }
      // No direct request (or it did not answer 200): stream it through the SDK below.
    }
    const body = transfer.download({
      bucket: object.bucket,
      key: object.key,
      size: object.size,
      etag: object.etag,
      versionId: object.versionId,
      signal: ctx.signal,
    });
    // A copy (no stage) counts its bytes in and out in one stage: a stage per object is
    // measurable CPU in runs of many small objects.
    const chain =
      stages.length === 0
        ? runChain(
            body,
            [],
            counter((n) => {
              countIn(n);
              countOut(n);
            }),
            ctx.signal,
          )
        : runChain(body, [counter(countIn), ...stages], counter(countOut), ctx.signal);
    const upload = transfer.upload({
      ...output,
      body: chain.output,
      // A copy writes exactly the listed size: a small one then holds only its own bytes.
      ...(stages.length === 0 ? { expectedBytes: object.size } : {}),
    });
    // If the upload fails first, the chain must not wait forever for a reader: destroyed with
    // the error, so a stage waiting on its own is told too.
    upload.catch((err: unknown) =>
      chain.output.destroy(err instanceof Error ? err : new Error(String(err))),
    );
    const [uploaded, transformed] = await Promise.allSettled([upload, chain.done]);
    // A real transform error (corrupt gzip) explains the failure better than the upload's
    // "body errored"; a premature close only echoes the upload's own failure.
    if (transformed.status === 'rejected' && !isPrematureClose(transformed.reason))
      throw transformed.reason;
    if (uploaded.status === 'rejected') throw uploaded.reason;
    if (transformed.status === 'rejected') throw transformed.reason;
  }

  /** Adds one failed object to the report and the log. */
  private report1(key: string, outputKey: string | undefined, err: unknown): void {
    const failure = describeFailure(key, outputKey, err);
    this.report.add(failure);
    this.ctx.log.warn({ key, outputKey, code: failure.code, err }, 'object failed');
  }

  /** Local file and/or `<output prefix>/_s3worker/failures-<runId>.json`; returns where it went. */
  private async writeReport(): Promise<string | undefined> {
    const { config, ctx, report } = this;
    if (report.count === 0) return undefined;
    let where: string | undefined;
    if (config.failureReport !== undefined) {
      try {
        await report.writeFile(config.failureReport);
        where = config.failureReport;
      } catch (err) {
        ctx.log.error({ err, path: config.failureReport }, 'could not write the failure report');
      }
    }
    if (config.uploadFailureReport && !config.dryRun && !ctx.signal.aborted) {
      const key = joinPrefix(config.output.prefix, `${OWN_FOLDER}failures-${ctx.runId}.json`);
      try {
        await report.upload(ctx.transfer, config.output.bucket, key, ctx.signal);
        where ??= `s3://${config.output.bucket}/${key}`;
        ctx.log.info({ report: `s3://${config.output.bucket}/${key}` }, 'failure report written');
      } catch (err) {
        ctx.log.error({ err, key }, 'could not upload the failure report');
      }
    }
    return where;
  }
}

/** A pass-through stage that reports how many bytes flow through it. */
function counter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      onBytes(chunk.length);
      done(null, chunk);
    },
  });
}

/** The source key an output records, or how it is known when only its hash is recorded. */
function recordedKey(source: RecordedSource): string {
  return source.key ?? `a key with SHA-256 ${source.keyHash}`;
}

/** `If-None-Match: *` refused our write: someone wrote the key after our check. */
function isPreconditionFailed(err: unknown): boolean {
  return err instanceof S3WorkerError && err.code === TransferErrorCode.ObjectExists;
}

/** Our conditional write was refused: the key exists (412) or another write to it raced (409). */
function isRefusedWrite(err: unknown): boolean {
  return (
    isPreconditionFailed(err) ||
    (err instanceof S3WorkerError && err.code === TransferErrorCode.WriteConflict)
  );
}

function isPrematureClose(err: unknown): boolean {
  return (err as { code?: string })?.code === 'ERR_STREAM_PREMATURE_CLOSE';
}
