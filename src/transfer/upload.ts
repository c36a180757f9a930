import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  type ChecksumAlgorithm,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { MAX_PART_SIZE, MIN_PART_SIZE } from '../config/transfer-options.js';
import { S3WorkerError } from '../errors.js';
import { crc32 } from './crc32.js';
import { crc32Base64, crc32Combine } from './crc32-combine.js';
import {
  type ObjectWriteOptions,
  type ObjectWriteParams,
  objectWriteParams,
} from './object-write-options.js';
import { MAX_PARTS, partSizeSchedule } from './part-size.js';
import { sendWithRetry } from './send-with-retry.js';
import { transferError } from './transfer-error.js';
import type { TransferParts } from './transfer-parts.js';
import { type UploadBody, UploadPartReader } from './upload-part-reader.js';

/** How long the abort of a failed multipart upload may take (it runs after the caller's signal aborted). */
const ABORT_UPLOAD_TIMEOUT_MS = 30_000;

/** Options of `Transfer.upload`. */
export interface UploadOptions extends ObjectWriteOptions {
  bucket: string;
  key: string;
  /**
   * The bytes to write; any length, unknown in advance is fine. A stream is consumed (or
   * destroyed on failure); a file (`{ file }`, an open FileHandle) is read from its start
   * straight into the part buffers, and stays open.
   */
  body: UploadBody;
  /**
   * Bytes of the first parts, 5 MiB–5 GiB. Default: the run's `--part-size` (8 MiB). Parts grow
   * so that S3's 10,000-part limit is never hit (see `partSizeSchedule`): for a body of known
   * length (`expectedBytes`) to the size that holds it; for an unknown length they double every
   * 1,000 parts (`partsPerDoubling`), which holds ≈ 7.8 TiB from 8 MiB parts.
   */
  partSize?: number | undefined;
  /**
   * Parts of one size before the size doubles, for a body of unknown length. Default 1000.
   * Cost: memory follows the part size, `(queueSize + 1)` parts of the current size.
   */
  partsPerDoubling?: number | undefined;
  /**
   * Parts in flight at once. Default: the run's `--queue-size` (4). Memory: up to
   * `(queueSize + 1) × partSize` (one part filling while the others are sent), within the budget.
   */
  queueSize?: number | undefined;
  /**
   * The body's exact length, when known in advance (a copy of an object whose size was listed).
   * A body smaller than one part then takes only its own size of budget and buffer instead of a
   * whole part; a body longer than announced fails with code `BODY_TOO_LONG`, a shorter one with
   * `BODY_TOO_SHORT` (nothing is written). Default: unknown.
   */
  expectedBytes?: number | undefined;
  /** Aborts the upload; a multipart upload is then aborted on the server. */
  signal?: AbortSignal | undefined;
}

/** What was written. */
export interface UploadResult {
  etag: string;
  /** Bytes written. */
  bytes: number;
  /** Parts uploaded (1 for a single PutObject). */
  parts: number;
  versionId?: string;
}

/**
 * Streams `body` into `bucket/key`: one PutObject when it is smaller than one part, otherwise a
 * multipart upload with `queueSize` parts in flight. On any error or abort the multipart upload
 * is aborted, so nothing half-written stays behind, and the body is destroyed.
 *
 * Why not `@aws-sdk/lib-storage`'s `Upload` (it forwards IfNoneMatch to
 * CompleteMultipartUpload and aborts on error, but):
 * - it has no hook for a budget shared by every transfer: `queueSize` bounds one upload only,
 *   so many concurrent uploads can run out of memory (sdk #4257);
 * - it keeps `subarray`s of concatenated chunks, which keeps pooled slabs alive and makes RSS
 *   grow far beyond `partSize × queueSize` on Node 24 (sdk #8286); here every part is one
 *   buffer of its own that chunks are copied into;
 * - it sets tags with a separate PutObjectTagging after completion (an extra request, an extra
 *   permission, and a window where the object exists untagged); here tags go with the write;
 * - it does not ask for a full-object checksum on multipart uploads, which downloads need to
 *   verify the whole object.
 */
export async function uploadStream(
  parts: TransferParts,
  options: UploadOptions & { partSize: number; queueSize: number },
): Promise<UploadResult> {
  const { s3, budget, buffers } = parts;
  const { bucket, key, partSize, queueSize } = options;
  if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
    throw new RangeError(`partSize must be an integer from 5 MiB to 5 GiB, got ${partSize}`);
  }
  if (!Number.isInteger(queueSize) || queueSize < 1) {
    throw new RangeError(`queueSize must be a positive integer, got ${queueSize}`);
  }
  const algorithm = await checksumAlgorithmOf(parts, options);
  const fullObject = algorithm?.startsWith('CRC') === true;
  let params: ObjectWriteParams;
  try {
    params = objectWriteParams(bucket, key, options);
  } catch (err) {
    new UploadPartReader(options.body).close();
    throw err;
  }

  const controller = new AbortController();
  const outer = options.signal;
  const onAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  else outer?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;

  const reader = new UploadPartReader(options.body);
  const inFlight = new Set<Promise<void>>();
  const completed: CompletedPart[] = [];
  let held = 0;
  let failure: unknown;
  let uploadId: string | undefined;
  let action = 'PutObject';
  let bytes = 0;
  let crc = 0;
  // Part buffers come from a pool shared by every upload on this budget: a fresh one per part
  // (or per small object) costs garbage-collector time and lets RSS drift above the budget.
  const sizeOf = partSizeSchedule({
    partSize,
    expectedBytes: options.expectedBytes,
    partsPerDoubling: options.partsPerDoubling,
  });
  const acquirePart = async (size: number): Promise<Buffer> => {
    await budget.acquire(size, signal, { holdsNothing: () => held === 0 });
    held += size;
    return buffers.take(size);
  };
  const releasePart = (buffer: Buffer) => {
    held -= buffer.length;
    budget.release(buffer.length);
    buffers.give(buffer);
  };

  const acquireSmall = async (size: number): Promise<Buffer> => {
    await budget.acquire(size, signal, { holdsNothing: () => held === 0 });
    held += size;
    return Buffer.allocUnsafe(size);
  };
  const releaseSmall = (size: number) => {
    held -= size;
    budget.release(size);
  };

  try {
    // The part's budget is taken before its bytes are read, not after the first chunk arrives:
    // otherwise a ranged download feeding this upload could fill the budget with read-ahead
    // while the upload, holding nothing in flight yet, waits for room it never gets.
    const expected = options.expectedBytes;
    const small = expected !== undefined && expected < partSize;
    // A small body gets a buffer of its own size, plus one byte to notice a longer body.
    let buffer = small ? await acquireSmall(expected + 1) : await acquirePart(sizeOf(1));
    let filled = await reader.fill(buffer, signal);
    if (small && filled > expected) throw bodyTooLong(bucket, key, expected);
    if (filled < buffer.length || (await reader.atEnd(signal))) {
      if (expected !== undefined && filled < expected) {
        throw bodyTooShort(bucket, key, filled, expected);
      }
      const body = buffer.subarray(0, filled);
      try {
        return await putObject(parts, params, body, options.ifNoneMatch, algorithm, signal);
      } finally {
        if (small) releaseSmall(buffer.length);
        else releasePart(buffer);
      }
    }

    action = 'CreateMultipartUpload';
    const created = await sendWithRetry(
      () =>
        s3.send(
          new CreateMultipartUploadCommand({
            ...params,
            ChecksumAlgorithm: algorithm,
            ChecksumType: fullObject ? 'FULL_OBJECT' : undefined,
          }),
          { abortSignal: signal },
        ),
      parts.retry,
      { action: 'CreateMultipartUpload', bucket, key },
      signal,
    );
    uploadId = created.UploadId;
    if (uploadId === undefined) throw new Error('CreateMultipartUpload returned no UploadId');
    const id = uploadId;
    action = 'UploadPart';

    const sendPart = (partNumber: number, buffer: Buffer, length: number): Promise<void> => {
      const body = buffer.subarray(0, length);
      let partCrc: string | undefined;
      if (algorithm === 'CRC32') {
        // Checksummed once here: the SDK then sends this value instead of computing its own,
        // and the parts' CRCs combine into the whole object's for the completion.
        const value = crc32(body);
        crc = crc32Combine(crc, value, length);
        partCrc = crc32Base64(value);
      }
      // A part is a buffer: a reset or a 503 past the SDK's attempts sends it again.
      const p = sendWithRetry(
        () =>
          uploadPart(
            parts,
            { bucket, key, uploadId: id, partNumber, body, algorithm, partCrc },
            signal,
          ),
        parts.retry,
        { action: 'UploadPart', bucket, key },
        signal,
      )
        .then(
          (part) => {
            parts.noteStored(length);
            completed.push(part);
          },
          (err) => {
            failure ??= err;
            controller.abort(err);
          },
        )
        .finally(() => {
          releasePart(buffer);
          inFlight.delete(p);
        });
      inFlight.add(p);
      return p;
    };

    for (let partNumber = 1; ; partNumber++) {
      if (partNumber > MAX_PARTS) throw tooManyParts(bucket, key, bytes);
      bytes += filled;
      void sendPart(partNumber, buffer, filled);
      if (filled < buffer.length) break;
      while (inFlight.size >= queueSize) await Promise.race(inFlight);
      if (failure !== undefined) throw failure;
      if (await reader.atEnd(signal)) break;
      buffer = await acquirePart(sizeOf(partNumber + 1));
      filled = await reader.fill(buffer, signal);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    // Never complete an upload with fewer bytes than announced: the output would be short.
    if (expected !== undefined && bytes !== expected) {
      throw bytes < expected
        ? bodyTooShort(bucket, key, bytes, expected)
        : bodyTooLong(bucket, key, expected);
    }

    action = 'CompleteMultipartUpload';
    completed.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    const completeId = uploadId;
    const done = await sendWithRetry(
      async () => {
        try {
          return await s3.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key: key,
              UploadId: completeId,
              MultipartUpload: { Parts: completed },
              IfNoneMatch: options.ifNoneMatch ? '*' : undefined,
              ChecksumType: fullObject ? 'FULL_OBJECT' : undefined,
              ChecksumCRC32: algorithm === 'CRC32' ? crc32Base64(crc) : undefined,
            }),
            { abortSignal: signal },
          );
        } catch (err) {
          // A completion whose answer was lost completed all the same: sent again, it finds no
          // upload. The object is ours when its ETag is the one these parts make.
          const written = isNoSuchUpload(err)
            ? await completedEarlier(s3, bucket, key, completed, signal)
            : undefined;
          if (written) return written;
          throw err;
        }
      },
      parts.retry,
      { action: 'CompleteMultipartUpload', bucket, key },
      signal,
    );
    uploadId = undefined;
    return { etag: done.ETag ?? '', bytes, parts: completed.length, versionId: done.VersionId };
  } catch (err) {
    const cause = failure ?? err;
    controller.abort(cause);
    reader.close();
    await Promise.allSettled(inFlight);
    // The part being filled when the failure hit was never sent, so nothing else releases it.
    if (held > 0) budget.release(held);
    held = 0;
    if (uploadId !== undefined) {
      await abortUpload(parts, bucket, key, uploadId, cause);
    }
    // A failure of the body (a corrupt gzip input, a broken download) is the caller's own
    // error, not an S3 one: it goes back unchanged.
    if (reader.failure !== undefined && cause === reader.failure && !outer?.aborted) throw cause;
    throw transferError(cause, { action, bucket, key }, outer);
  } finally {
    outer?.removeEventListener('abort', onAbort);
  }
}

/** Options of `Transfer.putObject`: an upload's, with the whole body in memory. */
export interface PutObjectOptions extends ObjectWriteOptions {
  bucket: string;
  key: string;
  body: Buffer;
  signal?: AbortSignal | undefined;
}

/**
 * Writes `body` as one PutObject (direct when the transfer allows it, else through the SDK), with
 * the same headers, checksum and `If-None-Match` as `uploadStream`; errors come back explained as
 * `uploadStream`'s do. For bodies already in memory and smaller than a part.
 */
export async function putSmallObject(
  parts: TransferParts,
  options: PutObjectOptions,
): Promise<UploadResult> {
  const { bucket, key, body, signal } = options;
  try {
    return await putObject(
      parts,
      objectWriteParams(bucket, key, options),
      body,
      options.ifNoneMatch,
      await checksumAlgorithmOf(parts, options),
      signal,
    );
  } catch (err) {
    throw transferError(err, { action: 'PutObject', bucket, key }, signal);
  }
}

/** One part of a multipart upload, as `uploadPart` sends it. */
interface PartToSend {
  bucket: string;
  key: string;
  uploadId: string;
  partNumber: number;
  body: Buffer;
  algorithm: ChecksumAlgorithm | undefined;
  /** The part's CRC32 (base64), computed by the caller when the algorithm is CRC32. */
  partCrc: string | undefined;
}

/**
 * One UploadPart: direct (see `DirectRequests.uploadPart`), or through the SDK when the direct
 * request did not succeed. Returns the part as CompleteMultipartUpload lists it.
 */
async function uploadPart(
  parts: TransferParts,
  part: PartToSend,
  signal: AbortSignal,
): Promise<CompletedPart> {
  const { bucket, key, uploadId, partNumber, body, algorithm, partCrc } = part;
  const direct = await parts.direct?.uploadPart(
    { bucket, key, uploadId, partNumber, body, checksumAlgorithm: algorithm, checksum: partCrc },
    signal,
  );
  if (direct) return direct;
  const res = await parts.s3.send(
    new UploadPartCommand({
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      PartNumber: partNumber,
      Body: body,
      ContentLength: body.length,
      ChecksumAlgorithm: algorithm,
      ChecksumCRC32: partCrc,
    }),
    { abortSignal: signal },
  );
  return {
    PartNumber: partNumber,
    ETag: res.ETag,
    ChecksumCRC32: res.ChecksumCRC32,
    ChecksumCRC32C: res.ChecksumCRC32C,
    ChecksumCRC64NVME: res.ChecksumCRC64NVME,
    ChecksumSHA1: res.ChecksumSHA1,
    ChecksumSHA256: res.ChecksumSHA256,
  };
}

/** One PutObject of `body`: direct, or through the SDK when the direct request did not succeed. */
async function putObject(
  parts: TransferParts,
  params: ObjectWriteParams,
  body: Buffer,
  ifNoneMatch: boolean | undefined,
  checksumAlgorithm: ChecksumAlgorithm | undefined,
  signal: AbortSignal | undefined,
): Promise<UploadResult> {
  // Direct or through the SDK, each with its own attempts; what still fails transiently after
  // them is tried again within the retry window (the body is a buffer).
  const written = await sendWithRetry(
    async (): Promise<UploadResult> => {
      const direct = await parts.direct?.putObject(
        { params, body, ifNoneMatch, checksumAlgorithm },
        signal,
      );
      if (direct) return { ...direct, bytes: body.length, parts: 1 };
      const res = await parts.s3.send(
        new PutObjectCommand({
          ...params,
          Body: body,
          ContentLength: body.length,
          ChecksumAlgorithm: checksumAlgorithm,
          IfNoneMatch: ifNoneMatch ? '*' : undefined,
        }),
        signal ? { abortSignal: signal } : {},
      );
      return { etag: res.ETag ?? '', bytes: body.length, parts: 1, versionId: res.VersionId };
    },
    parts.retry,
    { action: 'PutObject', bucket: params.Bucket, key: params.Key },
    signal,
  );
  parts.noteStored(body.length);
  return written;
}

/**
 * The checksum the requests carry: the one the caller names, none for `false`, else CRC32 —
 * unless the client was built with `requestChecksumCalculation: WHEN_REQUIRED`
 * (`--checksum-calculation WHEN_REQUIRED`, for stores that reject checksum headers): then none.
 */
async function checksumAlgorithmOf(
  parts: TransferParts,
  options: { checksumAlgorithm?: ChecksumAlgorithm | false | undefined },
): Promise<ChecksumAlgorithm | undefined> {
  if (options.checksumAlgorithm === false) return undefined;
  if (options.checksumAlgorithm !== undefined) return options.checksumAlgorithm;
  const setting = (parts.s3.config as { requestChecksumCalculation?: () => Promise<string> })
    .requestChecksumCalculation;
  return (await setting?.()) === 'WHEN_REQUIRED' ? undefined : 'CRC32';
}

/** Aborts a multipart upload even though the caller's signal has aborted; its own failure goes to the log via the cause. */
async function abortUpload(
  parts: TransferParts,
  bucket: string,
  key: string,
  uploadId: string,
  cause: unknown,
): Promise<void> {
  const signal = AbortSignal.timeout(ABORT_UPLOAD_TIMEOUT_MS);
  try {
    // Retried like any request (within its own deadline): an upload that failed because the
    // endpoint hiccuped must not be left behind by the same hiccup.
    await sendWithRetry(
      () =>
        parts.s3.send(
          new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
          { abortSignal: signal },
        ),
      { ...parts.retry, windowMs: Math.min(parts.retry.windowMs, ABORT_UPLOAD_TIMEOUT_MS) },
      { action: 'AbortMultipartUpload', bucket, key },
      signal,
    );
  } catch (abortErr) {
    // The original failure is what the caller must see; the left-over upload is reported on it
    // and the start-of-run sweep removes it later.
    if (cause instanceof Error && cause.cause === undefined) {
      Object.defineProperty(cause, 'cause', { value: abortErr, configurable: true });
    }
  }
}

function isNoSuchUpload(err: unknown): boolean {
  const e = err as { name?: string; Code?: string };
  return e?.name === 'NoSuchUpload' || e?.Code === 'NoSuchUpload';
}

/**
 * The object at `key`, when it is the completion of `completed` (its ETag is the MD5 of the
 * parts' MD5s, then `-<parts>`, as S3 and MinIO compute it); `undefined` otherwise.
 */
async function completedEarlier(
  s3: TransferParts['s3'],
  bucket: string,
  key: string,
  completed: CompletedPart[],
  signal: AbortSignal,
): Promise<{ ETag?: string | undefined; VersionId?: string | undefined } | undefined> {
  const md5s = completed.map((p) => Buffer.from((p.ETag ?? '').replace(/"/g, ''), 'hex'));
  const expected = `"${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${completed.length}"`;
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: signal,
    });
    return head.ETag === expected ? { ETag: head.ETag, VersionId: head.VersionId } : undefined;
  } catch {
    return undefined;
  }
}

function bodyTooLong(bucket: string, key: string, expected: number): S3WorkerError {
  return new S3WorkerError(
    `the body for s3://${bucket}/${key} is longer than the ${expected} bytes announced`,
    {
      code: 'BODY_TOO_LONG',
      context: { bucket, key, expected },
      hint: 'the source changed while it was read, or a custom job returned a transform for a copy; run again',
    },
  );
}

function bodyTooShort(bucket: string, key: string, got: number, expected: number): S3WorkerError {
  return new S3WorkerError(
    `the body for s3://${bucket}/${key} ended after ${got} of the ${expected} bytes announced; not written`,
    {
      code: 'BODY_TOO_SHORT',
      context: { bucket, key, got, expected },
      hint: 'the source was cut short or changed while it was read; run again',
    },
  );
}

function tooManyParts(bucket: string, key: string, bytes: number): S3WorkerError {
  return new S3WorkerError(
    `s3://${bucket}/${key} needs more than ${MAX_PARTS} parts (${bytes} bytes sent so far)`,
    {
      code: 'TOO_MANY_PARTS',
      context: { bucket, key },
      hint: 'the body is larger than S3 allows for one object (5 TiB), or longer than announced',
    },
  );
}
