import type { SQSClient } from '@aws-sdk/client-sqs';
import { ConfigError } from '../../errors.js';
import type { JobContext, JobResult } from '../job.js';
import type { ReportedObject } from '../kit/object-reports/reported-object.js';
import { createSqsClient } from '../kit/queue/create-sqs-client.js';
import { parseQueueUrl, type QueueAddress } from '../kit/queue/queue-url.js';
import { s3EventBody } from '../kit/queue/s3-event-body.js';
import { sendMessageBatch } from '../kit/queue/send-message-batch.js';
import { BatchWatermark } from './batch-watermark.js';
import { type CheckpointStore, checkpointStore, type EnqueueCheckpoint } from './checkpoint.js';
import type { EnqueueConfig } from './config.js';
import { type MessageBatch, messageBatches } from './message-batches.js';

/** Failed messages logged one by one; past this only their count grows. */
const MAX_FAILURES_LOGGED = 100;

/**
 * One run of the enqueue job: the source's objects in order, 10 messages per SendMessageBatch,
 * `concurrency` batches in flight; the checkpoint written before the first batch, every
 * `checkpointEvery` batches the watermark passes, and at the end.
 */
export class EnqueueRun {
  readonly #config: EnqueueConfig;
  readonly #ctx: JobContext<EnqueueConfig>;
  readonly #queue: QueueAddress;
  readonly #source: string;
  readonly #store: CheckpointStore | undefined;
  #watermark = new BatchWatermark();
  #sinceCheckpoint = 0;
  #writing: Promise<void> = Promise.resolve();
  #writeWanted = false;
  #fatal: unknown;
  #failuresLogged = 0;
  readonly #stats = { batches: 0, sent: 0, failed: 0, retried: 0, checkpoints: 0 };

  constructor(config: EnqueueConfig, ctx: JobContext<EnqueueConfig>) {
    this.#config = config;
    this.#ctx = ctx;
    const queue = parseQueueUrl(config.queue);
    // The schema already refused a bad URL; this only narrows the type.
    if (typeof queue === 'string') throw new Error(queue);
    this.#queue = queue;
    this.#source = `s3://${config.input.bucket}/${config.input.prefix}`;
    this.#store =
      config.checkpoint === undefined
        ? undefined
        : checkpointStore(config.checkpoint, ctx.transfer);
  }

  async run(): Promise<JobResult> {
    const { ctx, config } = { ctx: this.#ctx, config: this.#config };
    const resumed = await this.#resume();
    if (resumed?.complete) {
      ctx.log.info(
        { checkpoint: this.#store?.location, sent: resumed.sent, failed: resumed.failed },
        'enqueue already complete: the checkpoint says every object was sent; nothing to do',
      );
      return { objects: { done: 0, skipped: 0, failed: 0, listed: 0 }, bytesIn: 0, bytesOut: 0 };
    }
    ctx.progress.addSection?.('enqueue', () => ({ ...this.#stats }));
    const client = await createSqsClient(ctx.s3, this.#queue, process.env, config.concurrency);
    const region = this.#queue.region ?? (await ctx.s3.config.region());
    let listed = 0;
    let interrupted = false;
    try {
      const objects = this.#list(resumed?.after, () => {
        listed++;
        ctx.progress.addTotal(1, 0);
      });
      const inFlight = new Set<Promise<void>>();
      for await (const batch of messageBatches(objects, (o) => s3EventBody(o, region))) {
        // A batch listed but not sent is not in the checkpoint: the next run lists it again.
        if (ctx.stopSignal.aborted) {
          interrupted = true;
          break;
        }
        if (this.#fatal !== undefined) break;
        const sent: Promise<void> = this.#send(client, batch).finally(() => inFlight.delete(sent));
        inFlight.add(sent);
        while (inFlight.size >= config.concurrency) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      if (this.#fatal !== undefined) throw this.#fatal;
      interrupted ||= ctx.stopSignal.aborted && listed > this.#stats.sent + this.#stats.failed;
      await this.#checkpoint(!interrupted);
    } finally {
      client.destroy();
    }
    const result = {
      objects: { done: this.#stats.sent, skipped: 0, failed: this.#stats.failed, listed },
      bytesIn: 0,
      bytesOut: 0,
      ...(interrupted ? { interrupted } : {}),
    };
    ctx.log.info(
      {
        ...this.#stats,
        listed,
        ...(resumed?.after === undefined ? {} : { resumedAfter: resumed.after }),
        ...(this.#store ? { checkpoint: this.#store.location } : {}),
        ...(this.#watermark.last === undefined ? {} : { after: this.#watermark.last }),
      },
      'enqueue finished',
    );
    return result;
  }

  /**
   * Reads the checkpoint: refuses one of another source or queue, and writes a first one when
   * there is none, so a checkpoint that cannot be written fails the run before any message goes.
   */
  async #resume(): Promise<EnqueueCheckpoint | undefined> {
    const store = this.#store;
    if (store === undefined) {
      this.#ctx.log.info('no --checkpoint: a run started again sends every object again');
      return undefined;
    }
    const found = await store.read(this.#ctx.signal);
    if (found === undefined) {
      await this.#writeCheckpoint(false);
      return undefined;
    }
    if (found.source !== this.#source || found.queue !== this.#config.queue) {
      throw new ConfigError(
        [
          {
            path: 'checkpoint',
            message: `${store.location} records an enqueue of ${found.source} into ${found.queue}, not of ${this.#source} into ${this.#config.queue}`,
          },
        ],
        { hint: 'name another --checkpoint for this input and queue' },
      );
    }
    this.#watermark = new BatchWatermark({
      last: found.after,
      sent: found.sent,
      failed: found.failed,
    });
    if (!found.complete) {
      this.#ctx.log.info(
        { checkpoint: store.location, after: found.after ?? null, sent: found.sent },
        'resuming after the checkpoint',
      );
    }
    return found;
  }

  /** The source's objects after `after`, in key order, one listing page at a time. */
  async *#list(after: string | undefined, onListed: () => void): AsyncGenerator<ReportedObject> {
    const { bucket, prefix } = this.#config.input;
    for await (const o of this.#ctx.transfer.list({
      bucket,
      prefix,
      signal: this.#ctx.signal,
      ...(after === undefined ? {} : { startAfter: after }),
    })) {
      onListed();
      yield { bucket, key: o.key, size: o.size, etag: o.etag, lastModified: o.lastModified };
    }
  }

  async #send(client: SQSClient, batch: MessageBatch): Promise<void> {
    const { ctx } = { ctx: this.#ctx };
    let results: Awaited<ReturnType<typeof sendMessageBatch>>;
    try {
      results = await sendMessageBatch(batch.bodies, {
        client,
        queue: this.#queue,
        signal: ctx.signal,
        onRetry: (messages, code) => {
          this.#stats.retried += messages;
          ctx.log.debug({ messages, code }, 'sending messages again');
        },
      });
    } catch (err) {
      this.#fatal ??= err;
      return;
    }
    let sent = 0;
    let failed = 0;
    for (const [i, r] of results.entries()) {
      if (r.ok) {
        sent++;
        ctx.progress.objectDone('done');
        continue;
      }
      failed++;
      ctx.progress.objectDone('failed');
      if (this.#failuresLogged++ < MAX_FAILURES_LOGGED) {
        ctx.log.error(
          { key: batch.keys[i], code: r.code, reason: r.message },
          'SQS refused the message of an object',
        );
      }
    }
    this.#stats.batches++;
    this.#stats.sent += sent;
    this.#stats.failed += failed;
    this.#sinceCheckpoint += this.#watermark.finish({
      seq: batch.seq,
      last: batch.last,
      sent,
      failed,
    });
    if (this.#store && this.#sinceCheckpoint >= this.#config.checkpointEvery) {
      this.#sinceCheckpoint = 0;
      void this.#writeCheckpoint(false).catch((err: unknown) => {
        this.#fatal ??= err;
      });
    }
  }

  /** The last checkpoint: waits for one being written, then writes the watermark as it is. */
  async #checkpoint(complete: boolean): Promise<void> {
    if (!this.#store) return;
    await this.#writing.catch(() => undefined);
    await this.#writeCheckpoint(complete);
  }

  /**
   * Writes the watermark as a checkpoint, one write at a time: a write asked for while one is
   * under way is done once it ends, with the watermark as it is then.
   */
  #writeCheckpoint(complete: boolean): Promise<void> {
    if (this.#writeWanted && !complete) return this.#writing;
    this.#writeWanted = true;
    this.#writing = this.#writing
      .catch(() => undefined)
      .then(async () => {
        this.#writeWanted = false;
        const w = this.#watermark;
        await this.#store!.write(
          {
            version: 1,
            source: this.#source,
            queue: this.#config.queue,
            ...(w.last === undefined ? {} : { after: w.last }),
            sent: w.sent,
            failed: w.failed,
            complete,
            updatedAt: new Date().toISOString(),
          },
          this.#ctx.signal,
        );
        this.#stats.checkpoints++;
      });
    return this.#writing;
  }
}
