/** How one entry of a batch request ended. */
export type BatchEntryResult = { ok: true } | { ok: false; code: string; message: string };

/** SQS takes at most 10 entries per batch request. */
export const SQS_BATCH_LIMIT = 10;

/**
 * Collects per-message requests (DeleteMessage, ChangeMessageVisibility) and sends them as batch
 * requests of up to 10: an entry waits at most `delayMs` for others to join it, and a full batch
 * goes at once. Cuts the requests per message by up to 10 when many objects finish together.
 *
 * `send` gets the entries of one batch and returns one result per entry, in order; if it throws,
 * every entry of that batch fails with the error's name.
 */
export class MessageBatcher<E> {
  readonly #send: (entries: E[]) => Promise<BatchEntryResult[]>;
  readonly #delayMs: number;
  #pending: Array<{ entry: E; resolve: (result: BatchEntryResult) => void }> = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  /**
   * @param delayMs how long the first entry of a batch waits for more; default 100 ms. Longer
   *   fills more batches (SQS bills per request, and each costs the server), and costs nothing:
   *   a finished message stays invisible until deleted, a heartbeat renews well before the
   *   timeout, and `flush()` sends at once when the run stops.
   */
  constructor(send: (entries: E[]) => Promise<BatchEntryResult[]>, delayMs = 100) {
    this.#send = send;
    this.#delayMs = delayMs;
  }

  /** Queues `entry`; resolves once its batch was sent, with its own result. Never rejects. */
  add(entry: E): Promise<BatchEntryResult> {
    return new Promise((resolve) => {
      this.#pending.push({ entry, resolve });
      if (this.#pending.length >= SQS_BATCH_LIMIT) this.#sendPending();
      else this.#timer ??= setTimeout(() => this.#sendPending(), this.#delayMs);
    });
  }

  /** Sends what is queued now and waits for every batch in flight. */
  async flush(): Promise<void> {
    this.#sendPending();
    await Promise.allSettled([...this.#inFlight]);
  }

  #sendPending(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, SQS_BATCH_LIMIT);
      const sent = this.#sendBatch(batch);
      this.#inFlight.add(sent);
      void sent.finally(() => this.#inFlight.delete(sent));
    }
  }

  async #sendBatch(
    batch: Array<{ entry: E; resolve: (result: BatchEntryResult) => void }>,
  ): Promise<void> {
    let results: BatchEntryResult[];
    try {
      results = await this.#send(batch.map((b) => b.entry));
    } catch (err) {
      const e = err as { name?: string; message?: string };
      const failed: BatchEntryResult = {
        ok: false,
        code: e.name ?? 'Error',
        message: (e.message ?? '').split('\n')[0] ?? '',
      };
      results = batch.map(() => failed);
    }
    for (const [i, b] of batch.entries()) {
      b.resolve(
        results[i] ?? { ok: false, code: 'NoResult', message: 'the batch answered nothing' },
      );
    }
  }
}
