import type { SQSClient } from '@aws-sdk/client-sqs';
import type { S3Location } from '../../../config/s3-location.js';
import type { JobContext } from '../../job.js';
import { relativeKey } from '../../kit/key-template.js';
import { createSqsClient } from '../../kit/queue/create-sqs-client.js';
import {
  type ItemOutcome,
  type ParsedMessage,
  QueueConsumer,
  type QueueStats,
} from '../../kit/queue/queue-consumer.js';
import { queueMetrics } from '../../kit/queue/queue-metrics.js';
import type { QueueOptions } from '../../kit/queue/queue-options.js';
import { parseQueueUrl } from '../../kit/queue/queue-url.js';
import { type ObjectCreatedEvent, parseS3EventMessage } from '../../kit/queue/s3-event-message.js';
import type { Outcome } from '../../kit/work-loop.js';

/** An object as its event describes it: the fields of the job's `SourceObject`. */
export interface EventObject {
  bucket: string;
  key: string;
  relKey: string;
  size: number;
  etag: string;
  lastModified: Date;
  /** The version the message names (see `ObjectCreatedEvent.versionId`). */
  versionId?: string;
}

/** One object named by a queue message, as the job's loop takes it. */
export interface QueueEntry {
  key: string;
  /**
   * The object as the event describes it (size, ETag, the event's time as its modified time),
   * like a listed object: no HeadObject. Absent when the event lacks the size or ETag.
   */
  object?: EventObject;
  /** The version to read, when the message names one (see `ObjectCreatedEvent.versionId`). */
  versionId?: string;
  /** Tells the message how the object ended (deleted once all its objects are done). */
  settled: (outcome: Outcome) => void;
}

/** Options of `QueueSource.open`. */
export interface QueueSourceOptions {
  config: QueueOptions & { queue: string; input: S3Location };
  ctx: Pick<JobContext<unknown>, 's3' | 'log' | 'signal' | 'stopSignal' | 'progress'>;
  /** Keys this job writes itself: an event for one is not an input (no loop through the queue). */
  isOwnOutput: (key: string) => boolean;
}

/**
 * stream-transform's queue mode: the objects named by S3 event notifications on `--queue`, as
 * entries for the job's loop, each going through the same pipeline as a listed object: the event
 * gives its size and ETag as a listing would (the read is conditional on that ETag), then
 * filters, key template, conditional write. An event without them costs a HeadObject.
 *
 * Every object must lie in the input bucket under the input prefix: a message naming another is
 * treated as poison (it ends in the dead-letter queue, where a misrouted notification shows),
 * never silently dropped. Events for the job's own outputs are ignored, so an output prefix
 * inside the notified prefix does not feed itself.
 */
export class QueueSource {
  readonly #client: SQSClient;
  readonly #consumer: QueueConsumer<ObjectCreatedEvent>;
  readonly #input: S3Location;

  private constructor(
    client: SQSClient,
    consumer: QueueConsumer<ObjectCreatedEvent>,
    input: S3Location,
  ) {
    this.#client = client;
    this.#consumer = consumer;
    this.#input = input;
  }

  /**
   * Connects to the queue (GetQueueAttributes); adds the `queue` section, the queue metrics
   * (`queueMetrics`) and health signals.
   */
  static async open(options: QueueSourceOptions): Promise<QueueSource> {
    const { config, ctx } = options;
    const queue = parseQueueUrl(config.queue);
    // The schema already refused a bad URL; this only narrows the type.
    if (typeof queue === 'string') throw new Error(queue);
    const client = await createSqsClient(ctx.s3, queue);
    const consumer = new QueueConsumer<ObjectCreatedEvent>({
      client,
      queue,
      visibilityTimeoutMs: config.queueVisibilityTimeout,
      exitWhenIdleMs: config.exitWhenIdle,
      stopSignal: ctx.stopSignal,
      signal: ctx.signal,
      log: ctx.log,
      parse: ({ body }) => parseBody(body, config.input, options.isOwnOutput),
    });
    try {
      await consumer.start();
    } catch (err) {
      client.destroy();
      throw err;
    }
    ctx.progress.addSection?.('queue', () => ({ ...consumer.stats() }));
    ctx.progress.addMetrics?.(queueMetrics(consumer));
    // The health check: a deleted message is settled work; answered polls show the worker
    // alive only while no message it took waits for an outcome.
    ctx.progress.addHealthSignals?.({
      settled: () => consumer.stats().deleted,
      pending: () => consumer.unsettled(),
      alive: () => consumer.stats().polls,
    });
    return new QueueSource(client, consumer, config.input);
  }

  /** True when the queue was left because of the stop signal (the run was interrupted). */
  get interrupted(): boolean {
    return this.#consumer.stopped;
  }

  /** Message counts so far. */
  stats(): QueueStats {
    return this.#consumer.stats();
  }

  /** The entries of received messages, until stopped or idle (see `QueueConsumer.items`). */
  async *entries(): AsyncGenerator<QueueEntry> {
    for await (const queued of this.#consumer.items()) {
      const event = queued.item;
      const settled = (outcome: Outcome) => queued.settle(itemOutcome(outcome));
      const version = event.versionId === undefined ? {} : { versionId: event.versionId };
      if (event.size === undefined || event.etag === undefined) {
        yield { key: event.key, ...version, settled };
        continue;
      }
      const object: EventObject = {
        bucket: this.#input.bucket,
        key: event.key,
        relKey: relativeKey(event.key, this.#input.prefix),
        size: event.size,
        // Events give the ETag bare; S3 listings and HEADs quote it.
        etag: event.etag.startsWith('"') ? event.etag : `"${event.etag}"`,
        lastModified: eventDate(event.eventTime),
        ...version,
      };
      yield { key: event.key, ...version, object, settled };
    }
  }

  /** Hands back what is still held, waits for the last deletes, closes the client. Idempotent. */
  async close(): Promise<void> {
    try {
      await this.#consumer.close();
    } finally {
      this.#client.destroy();
    }
  }
}

function itemOutcome(outcome: Outcome): ItemOutcome {
  if (outcome === 'failed') return 'failed';
  if (outcome === 'aborted') return 'aborted';
  return 'ok';
}

/** The event's time, or now when it has none (or an unreadable one). */
function eventDate(text: string | undefined): Date {
  const date = text === undefined ? new Date() : new Date(text);
  return Number.isNaN(date.getTime()) ? new Date() : date;
}

/** The objects a message names (one per key), or why it is not for this job. */
function parseBody(
  body: string,
  input: S3Location,
  isOwnOutput: (key: string) => boolean,
): ParsedMessage<ObjectCreatedEvent> {
  const parsed = parseS3EventMessage(body);
  if (parsed.kind === 'test-event') return { kind: 'discard', reason: 's3:TestEvent' };
  if (parsed.kind === 'poison') return parsed;
  const objects = new Map<string, ObjectCreatedEvent>();
  for (const object of parsed.objects) {
    if (object.bucket !== input.bucket) {
      return {
        kind: 'poison',
        reason: `names an object in bucket ${object.bucket}, not the input bucket ${input.bucket}`,
      };
    }
    if (!object.key.startsWith(input.prefix)) {
      return {
        kind: 'poison',
        reason: `names ${JSON.stringify(object.key)}, outside the input prefix ${JSON.stringify(input.prefix)}`,
      };
    }
    if (isOwnOutput(object.key)) continue;
    // A key written twice within one message is read once, in its current version (HeadObject).
    const { bucket, key, eventName } = object;
    objects.set(key, objects.has(key) ? { bucket, key, eventName } : object);
  }
  if (objects.size === 0) return { kind: 'discard', reason: 'names only outputs of this job' };
  return { kind: 'items', items: [...objects.values()] };
}
