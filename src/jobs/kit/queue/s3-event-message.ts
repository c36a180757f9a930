import { ENQUEUE_SENDER } from './s3-event-body.js';

/** One object a notification names, keys decoded. */
export interface ObjectCreatedEvent {
  bucket: string;
  /** The object key, decoded (S3 event keys arrive URL-encoded; EventBridge keys do not). */
  key: string;
  /** Bytes, when the event says. */
  size?: number;
  /** ETag as the event gives it (unquoted), when it says. */
  etag?: string;
  /** `ObjectCreated:Put`, `Object Created`... as the event names it. */
  eventName: string;
  /** When the event happened (ISO 8601), when it says: about when the object was written. */
  eventTime?: string;
  /**
   * The version to read, only in messages `s3worker enqueue` wrote from a manifest naming
   * versions (sender {@link ENQUEUE_SENDER}). The version in S3's own notifications is left
   * out: the object's current version is read under the event's ETag, so an event that arrives
   * late is skipped rather than bringing an older version back over a newer output.
   */
  versionId?: string;
}

/** What a queue message holds, as far as an S3-object job is concerned. */
export type S3EventMessage =
  | { kind: 'objects'; format: 's3' | 'eventbridge'; objects: ObjectCreatedEvent[] }
  /** The `s3:TestEvent` S3 sends when notifications are turned on: nothing to do. */
  | { kind: 'test-event' }
  /** Anything else: left for the queue's redrive policy, with what is wrong. */
  | { kind: 'poison'; reason: string };

const MAX_SNS_DEPTH = 1;

/**
 * Parses the body of an SQS message carrying S3 event notifications:
 *
 * - S3 → SQS (`Records[]`, `eventSource` `aws:s3`, `eventName` `ObjectCreated:*`): keys are
 *   URL-encoded form style, so `+` is a space and `%2B` a plus; `/` may arrive as-is or as `%2F`,
 *   both decode to `/`;
 * - EventBridge → SQS (`source` `aws.s3`, `detail-type` `Object Created`): `detail.object.key` is
 *   not encoded;
 * - either of those wrapped in an SNS notification (`Type` `Notification`, the event in `Message`),
 *   for topics fanned out to queues without raw delivery;
 * - `s3:TestEvent` (S3 sends one when a notification configuration is saved).
 *
 * Events other than object creation, bodies that are not JSON, and keys that do not decode are
 * poison: the caller leaves such a message for the redrive policy rather than guessing.
 */
export function parseS3EventMessage(body: string): S3EventMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { kind: 'poison', reason: 'the body is not JSON' };
  }
  return parseValue(parsed, 0);
}

function parseValue(value: unknown, snsDepth: number): S3EventMessage {
  if (!isObject(value)) return { kind: 'poison', reason: 'the body is not a JSON object' };
  if (value.Type === 'Notification' && typeof value.Message === 'string') {
    if (snsDepth >= MAX_SNS_DEPTH) {
      return { kind: 'poison', reason: 'an SNS notification inside an SNS notification' };
    }
    let inner: unknown;
    try {
      inner = JSON.parse(value.Message);
    } catch {
      return { kind: 'poison', reason: 'the SNS notification message is not JSON' };
    }
    return parseValue(inner, snsDepth + 1);
  }
  if (value.Event === 's3:TestEvent') return { kind: 'test-event' };
  if (Array.isArray(value.Records)) return parseRecords(value.Records);
  if (value.source === 'aws.s3' && isObject(value.detail)) return parseEventBridge(value);
  return {
    kind: 'poison',
    reason: 'neither an S3 event notification (Records), an EventBridge S3 event, nor s3:TestEvent',
  };
}

function parseRecords(records: unknown[]): S3EventMessage {
  if (records.length === 0) return { kind: 'poison', reason: 'the event has no records' };
  const objects: ObjectCreatedEvent[] = [];
  for (const [i, record] of records.entries()) {
    if (!isObject(record) || !isObject(record.s3)) {
      return { kind: 'poison', reason: `record ${i} has no s3 section` };
    }
    const eventName = typeof record.eventName === 'string' ? record.eventName : '';
    if (!eventName.startsWith('ObjectCreated:')) {
      return {
        kind: 'poison',
        reason: `record ${i} is ${eventName === '' ? 'an event without a name' : eventName}, not ObjectCreated:*; send only s3:ObjectCreated:* events to this queue`,
      };
    }
    const bucket = isObject(record.s3.bucket) ? record.s3.bucket.name : undefined;
    const object = isObject(record.s3.object) ? record.s3.object : undefined;
    if (typeof bucket !== 'string' || bucket === '' || typeof object?.key !== 'string') {
      return { kind: 'poison', reason: `record ${i} names no bucket or key` };
    }
    const key = decodeS3EventKey(object.key);
    if (key === undefined || key === '') {
      return { kind: 'poison', reason: `record ${i} has a key that does not URL-decode` };
    }
    const fromEnqueue = record.s3.configurationId === ENQUEUE_SENDER;
    objects.push({
      bucket,
      key,
      eventName,
      ...sizeAndEtag(object.size, object.eTag),
      ...(fromEnqueue && typeof object.versionId === 'string' && object.versionId !== ''
        ? { versionId: object.versionId }
        : {}),
      ...(typeof record.eventTime === 'string' ? { eventTime: record.eventTime } : {}),
    });
  }
  return { kind: 'objects', format: 's3', objects };
}

function parseEventBridge(event: Record<string, unknown>): S3EventMessage {
  const detailType = event['detail-type'];
  if (detailType !== 'Object Created') {
    return {
      kind: 'poison',
      reason: `EventBridge event ${JSON.stringify(detailType)} is not "Object Created"; route only Object Created events to this queue`,
    };
  }
  const detail = event.detail as Record<string, unknown>;
  const bucket = isObject(detail.bucket) ? detail.bucket.name : undefined;
  const object = isObject(detail.object) ? detail.object : undefined;
  if (
    typeof bucket !== 'string' ||
    bucket === '' ||
    typeof object?.key !== 'string' ||
    object.key === ''
  ) {
    return { kind: 'poison', reason: 'the EventBridge event names no bucket or key' };
  }
  return {
    kind: 'objects',
    format: 'eventbridge',
    objects: [
      {
        bucket,
        key: object.key,
        eventName: detailType,
        ...sizeAndEtag(object.size, object.etag),
        ...(typeof event.time === 'string' ? { eventTime: event.time } : {}),
      },
    ],
  };
}

/**
 * The key of an S3 event notification, decoded: S3 encodes it like a form field, so `+` means a
 * space (a real plus arrives as `%2B`) and every other byte outside the safe set as `%XX` UTF-8;
 * `%2F` and a literal `/` both mean `/`. Undefined when the text is not valid percent-encoding.
 */
export function decodeS3EventKey(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

function sizeAndEtag(size: unknown, etag: unknown): { size?: number; etag?: string } {
  return {
    ...(typeof size === 'number' && Number.isFinite(size) ? { size } : {}),
    ...(typeof etag === 'string' && etag !== '' ? { etag } : {}),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
