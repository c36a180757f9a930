import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Logger } from 'pino';
import { ExitCode, type S3WorkerError } from '../../../errors.js';
import { explainSqsError } from './explain-sqs-error.js';
import { type BatchEntryResult, MessageBatcher } from './message-batcher.js';
import type { QueueAddress } from './queue-url.js';

/** What a message turned out to hold. */
export type ParsedMessage<T> =
  /** Work: the message is deleted once every item settled `ok`. */
  | { kind: 'items'; items: T[] }
  /** Nothing to do (a test event, only ignored objects): deleted at once. */
  | { kind: 'discard'; reason: string }
  /** Not understood: left alone, so the queue's redrive policy moves it to the dead-letter queue. */
  | { kind: 'poison'; reason: string };

/** How one item of a message ended. */
export type ItemOutcome = 'ok' | 'failed' | 'aborted';

/** One item of a received message, handed to the work loop. */
export interface QueueItem<T> {
  item: T;
  messageId: string;
  /**
   * Says how the item ended; call once. When every item of its message settled: all `ok` →
   * the message is deleted; one `failed` → it is left to reappear after its visibility timeout
   * (and reach the dead-letter queue after maxReceiveCount); otherwise (`aborted`, the run is
   * stopping) it is handed back at once.
   */
  settle(outcome: ItemOutcome): void;
}

/** Counts for progress lines and the summary. */
export interface QueueStats {
  /**
   * Receive requests answered, empty long polls included: it moves every 20 s while the queue is
   * idle, so the health check sees a live worker (while nothing is `unsettled()`).
   */
  polls: number;
  /** Messages received (a redelivered message counts again). */
  received: number;
  /** Messages deleted: all their objects done or skipped, or nothing to do. */
  deleted: number;
  /** Messages handed back unfinished (visibility 0) because the run stopped. */
  returned: number;
  /** Messages left for redelivery because an object failed. */
  failed: number;
  /** Messages not understood, left for the redrive policy. */
  poison: number;
  /** Messages held now (received, not yet deleted or handed back). */
  inFlight: number;
  /** Age of the oldest message received (now − its SentTimestamp at receipt), ms. */
  oldestMessageAgeMs?: number;
}

/** Options of `QueueConsumer`. */
export interface QueueConsumerOptions<T> {
  client: SQSClient;
  queue: QueueAddress;
  /**
   * Visibility timeout asked for on receive and renewed by the heartbeat every third of it, ms
   * (whole seconds). Default: the queue's `VisibilityTimeout` attribute. A shorter one brings a
   * killed worker's messages back sooner and costs one ChangeMessageVisibility per 10 held
   * messages per third of it.
   */
  visibilityTimeoutMs?: number | undefined;
  /** End `items()` once nothing arrived for this long and nothing is held, ms. Default: never. */
  exitWhenIdleMs?: number | undefined;
  /** Aborted at the first SIGTERM: receive no more, hand back what was not started. */
  stopSignal: AbortSignal;
  /** Aborted when in-flight work must stop now. */
  signal: AbortSignal;
  log: Logger;
  /** Turns a message into work items; called once per receipt. */
  parse: (message: { id: string; body: string }) => ParsedMessage<T>;
}

/** SQS's own maxima: 10 messages per receive, 20 s of long polling. */
const RECEIVE_BATCH = 10;
const LONG_POLL_SECONDS = 20;
/**
 * The next receive starts while fewer than this many items still wait, so the loop never waits
 * for SQS's answer with nothing to hand out; at most this many plus one batch are held waiting.
 * That early receive is a short poll: a long poll left waiting when the run stops could be
 * handed, server-side, the very messages this worker hands back, and lose them until their
 * visibility timeout ends.
 */
const PREFETCH_BELOW = RECEIVE_BATCH;
/** Receives that fail in a row (after the SDK's retries) before the run gives up. */
const MAX_RECEIVE_FAILURES = 5;
/** Visibility used when the queue's own is 0 and none is configured, ms. */
const FALLBACK_VISIBILITY_MS = 30_000;
/** Bound on each delete or visibility request, which must go out even after an abort. */
const BATCH_REQUEST_TIMEOUT_MS = 10_000;

interface HeldMessage {
  id: string;
  receiptHandle: string;
  /** Items not settled yet. */
  pending: number;
  failed: boolean;
  aborted: boolean;
  /** When its visibility was last set (receipt or heartbeat), ms since the epoch. */
  extendedAt: number;
  /** Its SentTimestamp, ms since the epoch; undefined when SQS did not give it. */
  sentAt: number | undefined;
}

interface HandleEntry {
  receiptHandle: string;
  visibilitySeconds?: number;
}

/**
 * Consumes an SQS queue for a work loop: receives with long polling (20 s) in batches of 10,
 * turns each message into items (`parse`), keeps every held message invisible with a heartbeat
 * (ChangeMessageVisibility every third of the timeout) while its items are queued or in flight,
 * and deletes a message only once all its items settled `ok`. A message with a failed item is
 * left to reappear after its visibility timeout, so the queue's redrive policy (maxReceiveCount →
 * dead-letter queue) bounds the retries; poison messages are left alone the same way.
 *
 * On the stop signal it stops receiving at once (the long poll is aborted), and every message
 * whose items did not all finish is handed back with visibility 0, so another worker takes it
 * immediately. Deletes and visibility changes go out in batches of up to 10.
 *
 * Call `start()` once, feed `items()` to the loop, and `close()` after the loop returned.
 */
export class QueueConsumer<T> {
  readonly #o: QueueConsumerOptions<T>;
  readonly #held = new Set<HeldMessage>();
  readonly #ops = new Set<Promise<void>>();
  readonly #stats: QueueStats = {
    polls: 0,
    received: 0,
    deleted: 0,
    returned: 0,
    failed: 0,
    poison: 0,
    inFlight: 0,
  };
  readonly #deletes: MessageBatcher<HandleEntry>;
  readonly #visibility: MessageBatcher<HandleEntry>;
  #visibilityMs = FALLBACK_VISIBILITY_MS;
  /** Until when the last failed message may still come back to a receive, ms since the epoch. */
  #failedUntil = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  /** The largest age at receipt of a message received since `takeOldestMessageAgeMs`, ms. */
  #oldestReceivedAgeMs = 0;
  #lastActivity = Date.now();
  #stopped = false;
  #closing: Promise<void> | undefined;

  constructor(options: QueueConsumerOptions<T>) {
    this.#o = options;
    const { client, queue } = options;
    this.#deletes = new MessageBatcher(async (entries) => {
      const out = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queue.url,
          Entries: entries.map((e, i) => ({ Id: String(i), ReceiptHandle: e.receiptHandle })),
        }),
        { abortSignal: AbortSignal.timeout(BATCH_REQUEST_TIMEOUT_MS) },
      );
      return batchResults(entries.length, out);
    });
    this.#visibility = new MessageBatcher(async (entries) => {
      const out = await client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queue.url,
          Entries: entries.map((e, i) => ({
            Id: String(i),
            ReceiptHandle: e.receiptHandle,
            VisibilityTimeout: e.visibilitySeconds ?? 0,
          })),
        }),
        { abortSignal: AbortSignal.timeout(BATCH_REQUEST_TIMEOUT_MS) },
      );
      return batchResults(entries.length, out);
    });
  }

  /** The visibility timeout in force (after `start()`), ms. */
  get visibilityTimeoutMs(): number {
    return this.#visibilityMs;
  }

  /** True when `items()` ended because the run was stopped (not because the queue was idle). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** A copy of the counts. */
  stats(): QueueStats {
    return { ...this.#stats, inFlight: this.#held.size };
  }

  /**
   * The age of the oldest message this worker took, ms, and the start of a new interval: the
   * largest of `now − SentTimestamp` over the messages held now (received, not yet deleted or
   * handed back) and of the age at receipt of every message received since the previous call
   * (poison, discarded and handed-back ones included). 0 when nothing is held and nothing arrived
   * since. One call per metric line (`OldestMessageAgeSeconds`): a message received and deleted
   * between two lines still shows in the next one.
   */
  takeOldestMessageAgeMs(now = Date.now()): number {
    let oldest = this.#oldestReceivedAgeMs;
    this.#oldestReceivedAgeMs = 0;
    for (const message of this.#held) {
      if (message.sentAt !== undefined) oldest = Math.max(oldest, now - message.sentAt);
    }
    return Math.max(0, oldest);
  }

  /**
   * Messages this worker still answers for: those held, plus one while a failed message's
   * visibility timeout (and one long poll after it) has not run out — until then it has not
   * been received again (here or by another worker) or moved to the dead-letter queue. 0 means
   * idle: nothing received waits for an outcome. Poison messages never count (the redrive
   * policy, not this worker, settles them).
   */
  unsettled(now = Date.now()): number {
    return this.#held.size + (now < this.#failedUntil ? 1 : 0);
  }

  /**
   * Reads the queue's visibility timeout and redrive policy (GetQueueAttributes: this also proves
   * the queue exists and is reachable before any message is taken) and starts the heartbeat.
   *
   * @throws S3WorkerError explained (queue missing, access denied, endpoint unreachable...).
   */
  async start(): Promise<void> {
    const { client, queue, log, signal } = this.#o;
    let attributes: Record<string, string>;
    try {
      const out = await client.send(
        new GetQueueAttributesCommand({
          QueueUrl: queue.url,
          AttributeNames: ['VisibilityTimeout', 'RedrivePolicy', 'KmsMasterKeyId'],
        }),
        { abortSignal: signal },
      );
      attributes = out.Attributes ?? {};
    } catch (err) {
      if (signal.aborted) throw err;
      throw explainSqsError(err, 'sqs:GetQueueAttributes', queue);
    }
    const queueVisibilityMs = Number(attributes.VisibilityTimeout ?? 0) * 1000;
    this.#visibilityMs =
      this.#o.visibilityTimeoutMs ??
      (queueVisibilityMs > 0 ? queueVisibilityMs : FALLBACK_VISIBILITY_MS);
    const every = this.#heartbeatMs();
    this.#heartbeat = setInterval(() => this.#beat(), every);
    this.#heartbeat.unref();
    const redrive = parseRedrive(attributes.RedrivePolicy);
    log.info(
      {
        queue: queue.url,
        visibilityTimeoutMs: this.#visibilityMs,
        heartbeatMs: every,
        deadLetterQueue: redrive?.deadLetterTargetArn ?? 'none',
        maxReceiveCount: redrive?.maxReceiveCount,
        kmsKey: attributes.KmsMasterKeyId,
        exitWhenIdleMs: this.#o.exitWhenIdleMs,
      },
      'queue consumer starting',
    );
    if (!redrive) {
      log.warn(
        { queue: queue.url },
        'the queue has no redrive policy: a message that keeps failing is received again and again; give the queue a dead-letter queue',
      );
    }
  }

  /**
   * The items of received messages, in order, received lazily: a receive starts only when the
   * loop asks for an item and fewer than `PREFETCH_BELOW` wait (so the next batch is on its way
   * before the last one runs out). Ends on the stop signal, or once idle for `exitWhenIdleMs`.
   * Items received but never taken are settled `aborted` when it ends.
   *
   * The stop signal does not cut a receive short: SQS keeps serving an abandoned long poll and
   * would hand it the next message — one this worker hands back, another worker's, or a new
   * event — which would then stay hidden for a whole visibility timeout. The receive in flight is
   * left to answer (at once when a message is there, else after at most 20 s) and what it brings
   * is handed back. Only `signal` (the drain deadline) aborts it.
   *
   * @throws S3WorkerError when receiving fails for good (access denied, queue gone, or
   *   `MAX_RECEIVE_FAILURES` failures in a row).
   */
  async *items(): AsyncGenerator<QueueItem<T>> {
    const buffer: QueueItem<T>[] = [];
    let receiving: Promise<Message[] | undefined> | undefined;
    const receive = (longPoll: boolean): Promise<Message[] | undefined> => {
      const started = this.#receive(longPoll);
      // Awaited below; until then a failure must not count as unhandled.
      started.catch(() => {});
      receiving = started;
      return started;
    };
    try {
      for (;;) {
        if (this.#halted()) {
          this.#stopped = true;
          return;
        }
        if (receiving === undefined && buffer.length > 0 && buffer.length < PREFETCH_BELOW) {
          receive(false);
        }
        const next = buffer.shift();
        if (next) {
          yield next;
          continue;
        }
        let answered = receiving;
        if (answered === undefined) {
          if (this.#idleLongEnough()) {
            this.#o.log.info(
              { idleMs: Date.now() - this.#lastActivity },
              'queue idle: no more messages',
            );
            return;
          }
          answered = receive(true);
        }
        const messages = await answered;
        receiving = undefined;
        if (messages === undefined || this.#halted()) {
          if (messages !== undefined) this.#track(this.#handBack(answered));
          this.#stopped = true;
          return;
        }
        for (const message of messages) buffer.push(...this.#accept(message));
      }
    } finally {
      for (const item of buffer) item.settle('aborted');
      // A receive still out, or answered but not taken (the loop stopped first): hand back
      // what it brings; close() waits for it.
      if (receiving !== undefined) this.#track(this.#handBack(receiving));
    }
  }

  /**
   * Stops the heartbeat, hands back every message still held (an item never settled), and
   * waits for every delete and visibility change to be answered. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearInterval(this.#heartbeat);
    for (const message of [...this.#held]) {
      this.#held.delete(message);
      this.#release(message);
    }
    await Promise.all([this.#deletes.flush(), this.#visibility.flush()]);
    await Promise.allSettled([...this.#ops]);
  }

  #halted(): boolean {
    return this.#o.stopSignal.aborted || this.#o.signal.aborted;
  }

  #heartbeatMs(): number {
    return Math.max(1000, Math.floor(this.#visibilityMs / 3));
  }

  #idleLongEnough(): boolean {
    const idle = this.#o.exitWhenIdleMs;
    return idle !== undefined && this.#held.size === 0 && Date.now() - this.#lastActivity >= idle;
  }

  /**
   * One ReceiveMessage, a long poll or a short one; undefined when `signal` aborted it (or the
   * run stopped while it waited to retry). Retries transient failures.
   */
  async #receive(longPoll: boolean): Promise<Message[] | undefined> {
    const { client, queue, log, stopSignal, signal, exitWhenIdleMs } = this.#o;
    // Only the hard abort cuts a request short (see items()); a stop still ends a retry wait.
    const halt = AbortSignal.any([stopSignal, signal]);
    // Polls no longer than the idle time, so --exit-when-idle is kept to about a second.
    const wait = !longPoll
      ? 0
      : exitWhenIdleMs === undefined
        ? LONG_POLL_SECONDS
        : Math.min(LONG_POLL_SECONDS, Math.ceil(exitWhenIdleMs / 1000));
    for (let failures = 0; ; ) {
      if (halt.aborted) return undefined;
      // Sent once the buffer ran dry: the worker has nothing to hand out until it answers.
      if (longPoll) log.debug({ waitSeconds: wait }, 'waiting for messages');
      try {
        const out = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: queue.url,
            MaxNumberOfMessages: RECEIVE_BATCH,
            WaitTimeSeconds: wait,
            VisibilityTimeout: this.#visibilityMs / 1000,
            MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
          }),
          { abortSignal: signal },
        );
        this.#stats.polls++;
        return out.Messages ?? [];
      } catch (err) {
        if (halt.aborted) return undefined;
        const explained = explainSqsError(err, 'sqs:ReceiveMessage', queue);
        failures++;
        if (!isTransient(explained) || failures >= MAX_RECEIVE_FAILURES) throw explained;
        const delayMs = Math.min(1000 * 2 ** failures, LONG_POLL_SECONDS * 1000);
        log.warn({ err: explained, failures, delayMs }, 'receive failed; retrying');
        try {
          await sleep(delayMs, undefined, { signal: halt });
        } catch {
          return undefined;
        }
      }
    }
  }

  /** Counts and parses one received message; returns its items (none for discarded or poison). */
  #accept(message: Message): QueueItem<T>[] {
    const { log, parse } = this.#o;
    const now = Date.now();
    const id = message.MessageId ?? '';
    const receiveCount = Number(message.Attributes?.ApproximateReceiveCount ?? 1);
    const sentAt = this.#received(message, now);
    this.#lastActivity = now;
    const held: HeldMessage = {
      id,
      receiptHandle: message.ReceiptHandle ?? '',
      pending: 0,
      failed: false,
      aborted: false,
      extendedAt: now,
      sentAt,
    };
    const parsed = parse({ id, body: message.Body ?? '' });
    if (parsed.kind === 'poison') {
      this.#stats.poison++;
      log.warn(
        { messageId: id, receiveCount, reason: parsed.reason },
        'poison message: left for the redrive policy',
      );
      return [];
    }
    if (parsed.kind === 'discard' || parsed.items.length === 0) {
      const reason = parsed.kind === 'discard' ? parsed.reason : 'nothing to do';
      log.info({ messageId: id, reason }, 'queue message discarded');
      this.#delete(held);
      return [];
    }
    held.pending = parsed.items.length;
    this.#held.add(held);
    log.debug(
      { messageId: id, receiveCount, items: parsed.items.length },
      'queue message received',
    );
    return parsed.items.map((item) => {
      let settled = false;
      return {
        item,
        messageId: id,
        settle: (outcome: ItemOutcome) => {
          if (settled) return;
          settled = true;
          this.#settle(held, outcome);
        },
      };
    });
  }

  /** Counts a received message and its age; returns its SentTimestamp (ms since the epoch). */
  #received(message: Message, now: number): number | undefined {
    this.#stats.received++;
    const sent = Number(message.Attributes?.SentTimestamp ?? Number.NaN);
    if (!Number.isFinite(sent)) return undefined;
    const age = Math.max(0, now - sent);
    this.#stats.oldestMessageAgeMs = Math.max(this.#stats.oldestMessageAgeMs ?? 0, age);
    this.#oldestReceivedAgeMs = Math.max(this.#oldestReceivedAgeMs, age);
    return sent;
  }

  #settle(message: HeldMessage, outcome: ItemOutcome): void {
    if (outcome === 'failed') message.failed = true;
    if (outcome === 'aborted') message.aborted = true;
    message.pending--;
    if (message.pending > 0 || !this.#held.has(message)) return;
    this.#held.delete(message);
    if (this.#held.size === 0) this.#lastActivity = Date.now();
    if (message.failed) {
      // Its visibility runs out on its own: the retry waits that long, and the redrive policy
      // counts it.
      this.#stats.failed++;
      this.#failedUntil = Math.max(
        this.#failedUntil,
        message.extendedAt + this.#visibilityMs + LONG_POLL_SECONDS * 1000,
      );
      this.#o.log.info(
        { messageId: message.id, visibilityTimeoutMs: this.#visibilityMs },
        'queue message left for redelivery: an object failed',
      );
    } else if (message.aborted) {
      this.#release(message);
    } else {
      this.#delete(message);
    }
  }

  #delete(message: HeldMessage): void {
    this.#track(
      this.#deletes.add({ receiptHandle: message.receiptHandle }).then((result) => {
        if (result.ok) {
          this.#stats.deleted++;
          return;
        }
        this.#o.log.warn(
          { messageId: message.id, code: result.code, detail: result.message },
          'could not delete a finished message: it will be received again and skipped then',
        );
      }),
    );
  }

  async #handBack(receiving: Promise<Message[] | undefined>): Promise<void> {
    const late = await receiving.catch(() => undefined);
    const now = Date.now();
    for (const message of late ?? []) this.#received(message, now);
    await Promise.all(
      (late ?? []).map(async (message) => {
        const result = await this.#visibility.add({
          receiptHandle: message.ReceiptHandle ?? '',
          visibilitySeconds: 0,
        });
        if (result.ok) this.#stats.returned++;
      }),
    );
  }

  /** Visibility 0: the message is visible to every worker again now. */
  #release(message: HeldMessage): void {
    this.#track(
      this.#visibility
        .add({ receiptHandle: message.receiptHandle, visibilitySeconds: 0 })
        .then((result) => {
          if (result.ok) {
            this.#stats.returned++;
            return;
          }
          this.#o.log.warn(
            { messageId: message.id, code: result.code, detail: result.message },
            'could not hand a message back: it reappears when its visibility timeout ends',
          );
        }),
    );
  }

  /** The heartbeat: renews the visibility of every held message not renewed lately. */
  #beat(): void {
    const now = Date.now();
    const every = this.#heartbeatMs();
    const seconds = this.#visibilityMs / 1000;
    for (const message of this.#held) {
      if (now - message.extendedAt < every / 2) continue;
      message.extendedAt = now;
      this.#track(
        this.#visibility
          .add({ receiptHandle: message.receiptHandle, visibilitySeconds: seconds })
          .then((result: BatchEntryResult) => {
            if (result.ok) return;
            this.#o.log.warn(
              { messageId: message.id, code: result.code, detail: result.message },
              'could not extend the visibility of an in-flight message: another worker may receive it (its output is written once all the same)',
            );
          }),
      );
    }
  }

  #track(op: Promise<void>): void {
    this.#ops.add(op);
    void op.finally(() => this.#ops.delete(op));
  }
}

/** One result per entry of a batch answer (`Successful` / `Failed` by Id). */
function batchResults(
  count: number,
  out: {
    Successful?: Array<{ Id?: string | undefined }> | undefined;
    Failed?:
      | Array<{ Id?: string | undefined; Code?: string | undefined; Message?: string | undefined }>
      | undefined;
  },
): BatchEntryResult[] {
  const results: BatchEntryResult[] = Array.from({ length: count }, () => ({
    ok: false,
    code: 'NoResult',
    message: 'not in the batch answer',
  }));
  for (const s of out.Successful ?? []) results[Number(s.Id)] = { ok: true };
  for (const f of out.Failed ?? []) {
    results[Number(f.Id)] = { ok: false, code: f.Code ?? 'Failed', message: f.Message ?? '' };
  }
  return results;
}

function parseRedrive(
  text: string | undefined,
): { deadLetterTargetArn?: string; maxReceiveCount?: number } | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as { deadLetterTargetArn?: string; maxReceiveCount?: unknown };
    return {
      ...(value.deadLetterTargetArn ? { deadLetterTargetArn: value.deadLetterTargetArn } : {}),
      ...(value.maxReceiveCount !== undefined
        ? { maxReceiveCount: Number(value.maxReceiveCount) }
        : {}),
    };
  } catch {
    return undefined;
  }
}

/** Failures worth another receive: the network or the service, not the policy or the queue. */
function isTransient(err: S3WorkerError): boolean {
  return err.exitCode === ExitCode.EndpointUnreachable || err.code === 'SQS_ERROR';
}
