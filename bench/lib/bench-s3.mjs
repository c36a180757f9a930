// The harness's own S3 access: buckets, test data, verification. Not what is measured.
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomFill } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { constants, createGunzip, createGzip, zstdCompressSync } from 'node:zlib';
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
export async function putLogTextObject(s3, bucket, key, size) {
  return (await putLogText(s3, bucket, key, size)).sha256;
}

/** Input bytes per zstd frame of a prepared `.zst` object: the zstd transform's default. */
const ZSTD_FRAME = 4 * MiB;

/**
 * Puts `size` bytes of log-like text at `key`, as they are (`codec` none), gzip level 1 (one
 * member, as `gzip -1` writes it) or zstd level 1 in 4 MiB frames (each with its content size
 * and checksum, as the zstd transform writes them). With `localFile`, the same bytes also go to
 * that file (the C tools' physical bound reads it). Memory: a few 8 MiB chunks.
 * @returns the SHA-256 of the text and the bytes stored.
 */
export async function putLogText(s3, bucket, key, size, { codec = 'none', localFile } = {}) {
  const fill = createLogTextFiller();
  const hash = createHash('sha256');
  async function* text() {
    for (let offset = 0; offset < size; offset += GENERATE_CHUNK) {
      const chunk = Buffer.allocUnsafe(Math.min(GENERATE_CHUNK, size - offset));
      fill(chunk);
      hash.update(chunk);
      yield chunk;
    }
  }
  async function* encoded() {
    if (codec === 'none') {
      yield* text();
    } else if (codec === 'zstd') {
      for await (const chunk of text()) {
        for (let at = 0; at < chunk.length; at += ZSTD_FRAME) {
          const piece = chunk.subarray(at, at + ZSTD_FRAME);
          yield zstdCompressSync(piece, {
            pledgedSrcSize: piece.length,
            params: { [constants.ZSTD_c_compressionLevel]: 1, [constants.ZSTD_c_checksumFlag]: 1 },
          });
        }
      }
    } else {
      yield* Readable.from(text()).pipe(createGzip({ level: 1, chunkSize: 256 * 1024 }));
    }
  }
  const file = localFile ? await open(localFile, 'w') : undefined;
  let stored = 0;
  async function* body() {
    for await (const chunk of encoded()) {
      stored += chunk.length;
      if (file) await file.write(chunk);
      yield chunk;
    }
  }
  try {
    const upload = new Upload({
      client: s3,
      params: { Bucket: bucket, Key: key, Body: Readable.from(body()) },
      partSize: 16 * MiB,
      queueSize: 4,
    });
    await upload.done();
  } finally {
    await file?.close();
  }
  return { sha256: hash.digest('hex'), bytes: stored };
}

/**
 * Puts `size` bytes of log-like text at `key` compressed by a C tool's CLI as a user would
 * (`gzip -1` writes one member, `zstd -1` one frame), and keeps the compressed file at
 * `localFile`: the text goes to `${localFile}.txt` (removed after), the tool compresses that
 * file to `localFile` (`compressor.args` then the file name; output on stdout), the file is
 * uploaded. Memory: a few 8 MiB chunks; disk: the text and its compressed copy.
 * @param {{ compressor: { cmd: string, args: string[] }, localFile: string }} options
 * @returns the SHA-256 of the text and the bytes stored.
 */
export async function putCliCompressedLogText(s3, bucket, key, size, { compressor, localFile }) {
  const textFile = `${localFile}.txt`;
  const fill = createLogTextFiller();
  const hash = createHash('sha256');
  const text = await open(textFile, 'w');
  try {
    const chunk = Buffer.allocUnsafe(GENERATE_CHUNK);
    for (let offset = 0; offset < size; offset += GENERATE_CHUNK) {
      const piece = chunk.subarray(0, Math.min(GENERATE_CHUNK, size - offset));
      fill(piece);
      hash.update(piece);
      await text.write(piece);
    }
  } finally {
    await text.close();
  }
  const out = await open(localFile, 'w');
  try {
    await new Promise((resolve, reject) => {
      const child = spawn(compressor.cmd, [...compressor.args, textFile], {
        stdio: ['ignore', out.fd, 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (t) => {
        stderr += t;
      });
      child.once('error', reject);
      child.once('close', (code) =>
        code === 0
          ? resolve()
          : reject(new Error(`${compressor.cmd} exited with ${code}: ${stderr.slice(0, 500)}`)),
      );
    });
  } finally {
    await out.close();
    await rm(textFile, { force: true });
  }
  const { size: stored } = await stat(localFile);
  const upload = new Upload({
    client: s3,
    params: {
      Bucket: bucket,
      Key: key,
      Body: createReadStream(localFile, { highWaterMark: GENERATE_CHUNK }),
    },
    partSize: 16 * MiB,
    queueSize: 4,
  });
  await upload.done();
  return { sha256: hash.digest('hex'), bytes: stored };
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

/** SHA-256 and length of a gzip object's decompressed content (every member). */
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

/**
 * SHA-256 and length of a zstd object's decompressed content, decoded by the `zstd` tool (not
 * by the code under test), which reads every frame and verifies each frame's checksum.
 */
export async function hashUnzstd(s3, bucket, key, zstdBin = 'zstd') {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const child = spawn(zstdBin, ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text) => {
    stderr += text;
  });
  const exited = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  const hash = createHash('sha256');
  let bytes = 0;
  child.stdout.on('data', (chunk) => {
    bytes += chunk.length;
  });
  await Promise.all([pipeline(response.Body, child.stdin), pipeline(child.stdout, hash)]);
  const code = await exited;
  if (code !== 0) throw new Error(`zstd -d exited with ${code}: ${stderr.trim().slice(0, 500)}`);
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
