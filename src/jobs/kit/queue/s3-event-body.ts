import type { ReportedObject } from '../object-reports/reported-object.js';

/**
 * Names the sender in every message `s3EventBody` writes (`configurationId` and
 * `userIdentity.principalId`), so a message in a dead-letter queue tells it came from a backfill
 * and not from a bucket notification.
 */
export const ENQUEUE_SENDER = 's3worker-enqueue';

/**
 * A key encoded as S3 encodes it in event notifications: form style, so a space is `+`, a plus
 * `%2B`, and every byte outside the unreserved set `%XX` of its UTF-8; `/` stays as it is.
 * `decodeS3EventKey` gives the key back.
 */
export function encodeS3EventKey(key: string): string {
  return encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/');
}

/**
 * The body of one S3 event notification (`Records[0]`, `ObjectCreated:Put`) for `object`, as S3
 * sends it to SQS: what queue mode (`parseS3EventMessage`) reads. The ETag goes bare (events carry
 * it unquoted), the object's last-modified time is the event time, and its version id is set when
 * known. About 450 bytes plus the encoded key.
 *
 * @param region the `awsRegion` of the record (the bucket's region, as S3 would give it).
 */
export function s3EventBody(object: ReportedObject, region: string): string {
  const s3Object: Record<string, unknown> = { key: encodeS3EventKey(object.key) };
  if (object.size !== undefined) s3Object.size = object.size;
  if (object.etag !== undefined) s3Object.eTag = object.etag.replace(/^"|"$/g, '');
  if (object.versionId !== undefined) s3Object.versionId = object.versionId;
  return JSON.stringify({
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: region,
        eventTime: (object.lastModified ?? new Date()).toISOString(),
        eventName: 'ObjectCreated:Put',
        userIdentity: { principalId: ENQUEUE_SENDER },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: ENQUEUE_SENDER,
          bucket: { name: object.bucket, arn: `arn:aws:s3:::${object.bucket}` },
          object: s3Object,
        },
      },
    ],
  });
}
