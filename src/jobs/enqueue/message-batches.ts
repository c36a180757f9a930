import type { ReportedObject } from '../kit/object-reports/reported-object.js';
import { SQS_BATCH_LIMIT } from '../kit/queue/message-batcher.js';
import { SQS_BATCH_BYTES } from '../kit/queue/send-message-batch.js';
import type { SourceEntry } from './enqueue-source.js';

/** Consecutive objects of the source, sent in one SendMessageBatch. */
export interface MessageBatch {
  /** Its place in the source's order, from 0. */
  seq: number;
  /** One message body per object, in order. */
  bodies: string[];
  /** The objects' keys, in order (for the failures' logs). */
  keys: string[];
  /** The key of its last object. */
  last: string;
  /** The place of its last object in the source (`SourceEntry.taken`). */
  taken: number;
}

/**
 * Groups the entries of `source`, in order, into batches of at most 10 messages and at most
 * {@link SQS_BATCH_BYTES} of bodies, `body` making each object's message. Pulls one object
 * ahead of what it yields: memory is one batch.
 */
export async function* messageBatches(
  source: AsyncIterable<SourceEntry>,
  body: (object: ReportedObject) => string,
): AsyncGenerator<MessageBatch> {
  let seq = 0;
  let current: Omit<MessageBatch, 'seq'> = { bodies: [], keys: [], last: '', taken: 0 };
  let bytes = 0;
  for await (const { object, taken } of source) {
    const text = body(object);
    const size = Buffer.byteLength(text);
    if (
      current.bodies.length === SQS_BATCH_LIMIT ||
      (current.bodies.length > 0 && bytes + size > SQS_BATCH_BYTES)
    ) {
      yield { seq: seq++, ...current };
      current = { bodies: [], keys: [], last: '', taken: 0 };
      bytes = 0;
    }
    current.bodies.push(text);
    current.keys.push(object.key);
    current.last = object.key;
    current.taken = taken;
    bytes += size;
  }
  if (current.bodies.length > 0) yield { seq, ...current };
}
