import type { SQSClient } from '@aws-sdk/client-sqs';
import { ConfigError } from '../../errors.js';
import type { JobContext, JobResult } from '../job.js';
import { isArchived } from '../kit/object-reports/is-archived.js';
import { createSqsClient } from '../kit/queue/create-sqs-client.js';
import { parseQueueUrl, type QueueAddress } from '../kit/queue/queue-url.js';
import { s3EventBody } from '../kit/queue/s3-event-body.js';
import { sendMessageBatch } from '../kit/queue/send-message-batch.js';
import { BatchWatermark } from './batch-watermark.js';
import { type CheckpointStore, checkpointStore, type EnqueueCheckpoint } from './checkpoint.js';
import type { EnqueueConfig } from './config.js';
import { type EnqueueSource, enqueueSource, type SourceEntry } from './enqueue-source.js';
import { type MessageBatch, messageBatches } from './message-batches.js';

/** Failed messages logged one by one; past this only their count grows. */
const MAX_FAILURES_LOGGED = 100;

/**
 * One run of the enqueue job: the source's objects in order, 10 messages per SendMessageBatch,
 * `concurrency` batches in flight or finished ahead of a slower one; the checkpoint written
 * before the first batch, every `checkpointEvery` batches the watermark passes (no batch starts
 * while it is written), and at the end. A killed run has sent at most `checkpointEvery` +
 * 2 × `concurrency` batches past its last checkpoint.
 */
export class EnqueueRun {
  readonly #config: EnqueueConfig;
  readonly #ctx: JobContext<EnqueueConfig>;
  readonly #queue: QueueAddress;
  readonly #source: EnqueueSource;
  readonly #store: CheckpointStore | undefined;
  #watermark = new BatchWatermark();
  /** Batches the watermark passed since the checkpoint was last written. */
  #sinceCheckpoint = 0;
  #fatal: unknown;
  #failuresLogged = 0;
  readonly #stats = { batches: 0, sent: 0, failed: 0, retried: 0, checkpoints: 0 };
  readonly #skippedBy: Record<string, number> = {};
  /** Objects the source gave this run, skipped ones included. */
  #listed = 0;

  constructor(config: EnqueueConfig, ctx: JobContext<EnqueueConfig>) {
    this.#config = config;
    this.#ctx = ctx;
    const queue = parseQueueUrl(config.queue);
    // The schema already refused a bad URL; this only narrows the type.
    if (typeof queue === 'string') throw new Error(queue);
    this.#queue = queue;
    this.#source = enqueueSource(config, ctx);
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
    let interrupted = false;
    try {
      const entries = this.#source.entries(
        { after: resumed?.after, taken: resumed?.taken ?? 0 },
        (reason) => this.#skip(reason),
      );
      const objects = this.#sendable(entries);
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
        // Batches finished ahead of a slower one count too: the checkpoint cannot pass them yet.
        while (inFlight.size > 0 && inFlight.size + this.#watermark.waiting >= config.concurrency) {
          await Promise.race(inFlight);
        }
        if (this.#store && this.#sinceCheckpoint >= config.checkpointEvery) {
          this.#sinceCheckpoint = 0;
          await this.#writeCheckpoint(false);
        }
      }
      await Promise.all(inFlight);
      if (this.#fatal !== undefined) throw this.#fatal;
      interrupted ||=
        ctx.stopSignal.aborted &&
        this.#listed > this.#stats.sent + this.#stats.failed + this.#skipped;
      await this.#writeCheckpoint(!interrupted);
    } finally {
      client.destroy();
      await this.#source.close();
    }
    const skipped = this.#skipped;
    const listed = this.#listed;
    const result = {
      objects: { done: this.#stats.sent, skipped, failed: this.#stats.failed, listed },
      ...(skipped > 0 ? { skippedBy: { ...this.#skippedBy } } : {}),
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
    const source = this.#source.name;
    if (found.source !== source || found.queue !== this.#config.queue) {
      throw new ConfigError(
        [
          {
            path: 'checkpoint',
            message: `${store.location} records an enqueue of ${found.source} into ${found.queue}, not of ${source} into ${this.#config.queue}`,
          },
        ],
        { hint: 'name another --checkpoint for this input and queue' },
      );
    }
    this.#watermark = new BatchWatermark({
      last: found.after,
      taken: found.taken,
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

  /**
   * The entries worth a message: each counted as listed; objects in an archive storage class
   * (no worker could read them without a restore) skipped and counted.
   */
  async *#sendable(entries: AsyncIterable<SourceEntry>): AsyncGenerator<SourceEntry> {
    for await (const entry of entries) {
      if (isArchived(entry.object)) {
        this.#skip('archived');
        continue;
      }
      this.#listed++;
      this.#ctx.progress.addTotal(1, 0);
      yield entry;
    }
  }

  /** An object of the source that gets no message, counted by `reason`. */
  #skip(reason: string): void {
    this.#skippedBy[reason] = (this.#skippedBy[reason] ?? 0) + 1;
    this.#listed++;
    this.#ctx.progress.addTotal(1, 0);
    this.#ctx.progress.objectDone('skipped');
  }

  get #skipped(): number {
    return Object.values(this.#skippedBy).reduce((n, c) => n + c, 0);
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
    const { seq, last, taken } = batch;
    this.#sinceCheckpoint += this.#watermark.finish({ seq, last, taken, sent, failed });
  }

  /** Writes the watermark as the checkpoint (no-op without `--checkpoint`). */
  async #writeCheckpoint(complete: boolean): Promise<void> {
    if (!this.#store) return;
    const w = this.#watermark;
    await this.#store.write(
      {
        version: 1,
        source: this.#source.name,
        queue: this.#config.queue,
        ...(w.last === undefined ? {} : { after: w.last }),
        taken: w.taken,
        sent: w.sent,
        failed: w.failed,
        complete,
        updatedAt: new Date().toISOString(),
      },
      this.#ctx.signal,
    );
    this.#stats.checkpoints++;
  }
}
