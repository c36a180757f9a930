// The harness's own S3 access: buckets, test data, verification. Not what is measured.
import { createHash, randomBytes, randomFill } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import pLimit from 'p-limit';
import { createLogTextFiller } from './log-text.mjs';

const randomFillAsync = promisify(randomFill);
const MiB = 1024 ** 2;

/** Bytes generated per chunk when writing a big object: bounds the harness's memory. */
const GENERATE_CHUNK = 8 * MiB;

/**
 * Creates the harness's S3 client (path-style, for MinIO on loopback).
 * @param {{ endpoint: string, accessKeyId: string, secretAccessKey: string, region: string }} env
 */
export function createBenchClient(env) {
  return new S3Client({
    endpoint: env.endpoint,
    region: env.region,
    forcePathStyle: true,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: 64 } }),
  });
}

/** Creates a bucket; the name should be unique to this run. */
export async function createBucket(s3, bucket) {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
}

/** Deletes every object under `prefix` (the whole bucket when empty), 1,000 keys per request. */
export async function deletePrefix(s3, bucket, prefix = '') {
  let deleted = 0;
  for await (const page of paginateListObjectsV2(
    { client: s3 },
    { Bucket: bucket, Prefix: prefix },
  )) {
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key }));
    if (keys.length === 0) continue;
    await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }),
    );
    deleted += keys.length;
  }
  return deleted;
}

/** Empties and removes a bucket, aborting multipart uploads a failed tool left behind. */
export async function removeBucket(s3, bucket) {
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of uploads.Uploads ?? []) {
    await s3.send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }),
    );
  }
  await deletePrefix(s3, bucket);
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/**
 * Uploads one object of `size` bytes made by `fill(buffer, offset)` chunk by chunk, so the
 * harness never holds more than a few chunks; returns the SHA-256 of the whole content.
 */
async function putGenerated(s3, bucket, key, size, fill) {
  const hash = createHash('sha256');
  async function* chunks() {
    for (let offset = 0; offset < size; offset += GENERATE_CHUNK) {
      const chunk = Buffer.allocUnsafe(Math.min(GENERATE_CHUNK, size - offset));
      await fill(chunk, offset);
      hash.update(chunk);
      yield chunk;
    }
  }
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: Readable.from(chunks()) },
    partSize: 16 * MiB,
    queueSize: 4,
  });
  await upload.done();
  return hash.digest('hex');
}

/** Puts `size` random bytes at `key`; returns their SHA-256. */
export function putRandomObject(s3, bucket, key, size) {
  return putGenerated(s3, bucket, key, size, (chunk) => randomFillAsync(chunk));
}

/** Puts `size` bytes of log-like text at `key` (compresses like real logs); returns its SHA-256. */
export function putLogTextObject(s3, bucket, key, size) {
  const fill = createLogTextFiller();
  return putGenerated(s3, bucket, key, size, async (chunk) => fill(chunk));
}

/** Puts `count` objects of `size` random bytes named `${prefix}${index}`, 32 at a time. */
export async function putSmallObjects(s3, bucket, prefix, count, size) {
  const limit = pLimit(32);
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      limit(() =>
        s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: `${prefix}${String(i).padStart(6, '0')}.bin`,
            Body: randomBytes(size),
          }),
        ),
      ),
    ),
  );
}

/** The object's size in bytes, or undefined when it does not exist. */
export async function objectSize(s3, bucket, key) {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return head.ContentLength;
  } catch (error) {
    if (error?.$metadata?.httpStatusCode === 404) return undefined;
    throw error;
  }
}

/** SHA-256 (hex) of a whole object, or of bytes `[start, end]` when a range is given. */
export async function hashObject(s3, bucket, key, range) {
  const response = await s3.send(
    new GetObjectCommand({
      Bucket: bucket,
      Key: key,
      Range: range ? `bytes=${range[0]}-${range[1]}` : undefined,
    }),
  );
  const hash = createHash('sha256');
  await pipeline(response.Body, hash);
  return hash.digest('hex');
}

/** SHA-256 and length of a gzip object's decompressed content. */
export async function hashGunzipped(s3, bucket, key) {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  let bytes = 0;
  const gunzip = createGunzip();
  gunzip.on('data', (chunk) => {
    bytes += chunk.length;
  });
  await pipeline(response.Body, gunzip, hash);
  return { sha256: hash.digest('hex'), bytes };
}

/** Keys and sizes under a prefix, as a Map key → size (fine for the bench's 5,000 keys). */
export async function listSizes(s3, bucket, prefix) {
  const sizes = new Map();
  for await (const page of paginateListObjectsV2(
    { client: s3 },
    { Bucket: bucket, Prefix: prefix },
  )) {
    for (const o of page.Contents ?? []) sizes.set(o.Key, o.Size);
  }
  return sizes;
}
