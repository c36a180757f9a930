/** What one finished batch contributes to the checkpoint. */
export interface FinishedBatch {
  /** The batch's place in the source's order, from 0, without gaps. */
  seq: number;
  /** The key of its last object. */
  last: string;
  /** The place of its last object in the source (`SourceEntry.taken`). */
  taken: number;
  /** Messages SQS accepted. */
  sent: number;
  /** Messages SQS refused for good. */
  failed: number;
}

/**
 * The furthest point of the source up to which every batch has finished, while batches finish
 * out of order (many are in flight). Holds only the batches that finished ahead of one still in
 * flight: at most the number in flight.
 */
export class BatchWatermark {
  #next = 0;
  readonly #ahead = new Map<number, FinishedBatch>();
  /** The last key of the furthest contiguous batch; undefined before the first. */
  last: string | undefined;
  /** The place of that key in the source. */
  taken = 0;
  /** Messages accepted up to `last`. */
  sent = 0;
  /** Messages refused for good up to `last`. */
  failed = 0;
  /** Batches the watermark passed so far. */
  batches = 0;

  /**
   * @param start where the source starts: the checkpoint's position and counts, when resuming.
   */
  constructor(
    start: { last?: string | undefined; taken?: number; sent?: number; failed?: number } = {},
  ) {
    this.last = start.last;
    this.taken = start.taken ?? 0;
    this.sent = start.sent ?? 0;
    this.failed = start.failed ?? 0;
  }

  /** Records a finished batch; returns how many batches the watermark moved past. */
  finish(batch: FinishedBatch): number {
    this.#ahead.set(batch.seq, batch);
    let moved = 0;
    for (let b = this.#ahead.get(this.#next); b !== undefined; b = this.#ahead.get(this.#next)) {
      this.#ahead.delete(this.#next);
      this.#next++;
      this.last = b.last;
      this.taken = b.taken;
      this.sent += b.sent;
      this.failed += b.failed;
      moved++;
    }
    this.batches += moved;
    return moved;
  }

  /** Batches finished ahead of the watermark (waiting for an earlier one). */
  get waiting(): number {
    return this.#ahead.size;
  }
}
