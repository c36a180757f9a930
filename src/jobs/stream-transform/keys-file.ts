import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { parseS3Url } from '../../config/s3-location.js';
import type { S3Sender } from '../../s3/s3-sender.js';

/**
 * The keys listed in a keys file, one per line, read as a stream (a file of millions of keys
 * is never held in memory). `source` is a local path or an `s3://bucket/key` URL (read with one
 * GetObject). Empty lines are skipped and a trailing `\r` is dropped; nothing else is trimmed,
 * since spaces are legal in keys.
 */
export async function* readKeysFile(
  source: string,
  s3: S3Sender,
  signal: AbortSignal,
): AsyncGenerator<string, void, undefined> {
  const body = await openKeysFile(source, s3, signal);
  const lines = createInterface({ input: body, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of lines) {
      const key = line.endsWith('\r') ? line.slice(0, -1) : line;
      if (key !== '') yield key;
    }
  } finally {
    lines.close();
    // Stopping early (stop signal, max failures) must not leave the GetObject socket open.
    body.destroy();
  }
}

async function openKeysFile(source: string, s3: S3Sender, signal: AbortSignal): Promise<Readable> {
  if (!source.startsWith('s3://')) return createReadStream(source, { signal });
  const { bucket, prefix: key } = parseS3Url(source, 'keys');
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
    abortSignal: signal,
  });
  return res.Body as Readable;
}
