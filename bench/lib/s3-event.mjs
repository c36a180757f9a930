// The body S3 sends to a queue for a new object, as the queue benches feed it.

/**
 * One S3-format ObjectCreated event (one record), as S3 sends it to SQS.
 * @param {string} bucket
 * @param {{ key: string, size: number, etag: string }} object the ETag unquoted, as events carry it
 */
export function s3EventBody(bucket, { key, size, etag }) {
  return JSON.stringify({
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: new Date().toISOString(),
        eventName: 'ObjectCreated:Put',
        s3: {
          s3SchemaVersion: '1.0',
          bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
          object: { key, size, eTag: etag },
        },
      },
    ],
  });
}
