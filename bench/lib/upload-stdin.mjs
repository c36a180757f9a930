// Uploads standard input (length unknown) to one object with either s3worker's Transfer or
// lib-storage's Upload, same part size and queue size; prints the SHA-256 and byte count of
// what it read, as JSON. Credentials and endpoint come from the environment (never argv).
//   node upload-stdin.mjs <transfer|lib-storage|idle> <bucket> <key> <partSize> <queueSize>
// `idle` loads the same modules and reads nothing: the memory any such process starts from, the
// floor the other two are measured above.
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Transfer } from '../../dist/index.js';

const [uploader, bucket, key, partSizeText, queueSizeText] = process.argv.slice(2);
const partSize = Number(partSizeText);
const queueSize = Number(queueSizeText);
const s3 = new S3Client({ endpoint: process.env.AWS_ENDPOINT_URL_S3, forcePathStyle: true });

const hash = createHash('sha256');
let bytes = 0;
const body = process.stdin.pipe(
  new Transform({
    transform(chunk, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  }),
);

if (uploader === 'transfer') {
  // The byte budget a run would give: the parts in flight plus the one filling.
  const transfer = new Transfer(s3, {
    partSize,
    queueSize,
    maxBufferedBytes: (queueSize + 1) * partSize,
  });
  await transfer.upload({ bucket, key, body });
} else if (uploader === 'lib-storage') {
  await new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: body },
    partSize,
    queueSize,
  }).done();
} else if (uploader === 'idle') {
  process.stdin.destroy();
} else {
  throw new Error(`unknown uploader ${uploader}`);
}
s3.destroy();
process.stdout.write(
  `${JSON.stringify({ sha256: hash.digest('hex'), bytes, uploaded: uploader !== 'idle' })}\n`,
);
