import { createHash } from 'node:crypto';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { explainS3Error } from '../../s3/explain-error.js';
import type { S3Sender } from '../../s3/s3-sender.js';

/**
 * User-metadata names an output carries to record where it came from (sent as
 * `x-amz-meta-s3worker-source-*`). Values are ASCII: S3 metadata cannot carry raw UTF-8, so the
 * key is percent-encoded.
 */
export const SOURCE_METADATA = {
  bucket: 's3worker-source-bucket',
  key: 's3worker-source-key',
  /** Instead of `key` when the encoded key is longer than `MAX_RECORDED_KEY_BYTES`: its SHA-256 (hex). */
  keyHash: 's3worker-source-key-sha256',
  etag: 's3worker-source-etag',
  size: 's3worker-source-size',
  version: 's3worker-source-version',
  transform: 's3worker-transform',
  fingerprint: 's3worker-fingerprint',
} as const;

/**
 * The longest percent-encoded source key recorded as is. S3 allows 2 KB of user metadata
 * (names and values together); a 1,024-byte key of non-ASCII characters encodes to up to 3 KB,
 * so a longer one is recorded as its SHA-256 instead, leaving room for the other records and
 * the user's own metadata.
 */
export const MAX_RECORDED_KEY_BYTES = 512;

/** The source of one output, as recorded in its metadata. */
export interface SourceRecord {
  bucket: string;
  key: string;
  /** The source's ETag without quotes. */
  etag: string;
  size: number;
  versionId?: string;
  /** What produced the output from it, e.g. `gzip` or `gunzip,zstd`; a different chain is a different output. */
  transform: string;
  /** Digest of every output-affecting setting (`outputFingerprint`); a change rewrites the output. */
  fingerprint: string;
}

/** The metadata map that records `source` on its output. */
export function sourceMetadata(source: SourceRecord): Record<string, string> {
  const encoded = encodeURIComponent(source.key);
  const meta: Record<string, string> = {
    [SOURCE_METADATA.bucket]: source.bucket,
    ...(encoded.length <= MAX_RECORDED_KEY_BYTES
      ? { [SOURCE_METADATA.key]: encoded }
      : { [SOURCE_METADATA.keyHash]: sha256Hex(source.key) }),
    [SOURCE_METADATA.etag]: stripQuotes(source.etag),
    [SOURCE_METADATA.size]: String(source.size),
    [SOURCE_METADATA.transform]: source.transform,
    [SOURCE_METADATA.fingerprint]: source.fingerprint,
  };
  if (source.versionId) meta[SOURCE_METADATA.version] = source.versionId;
  return meta;
}

/** True when `metadata` (an output's, as HeadObject returns it) records exactly `source`. */
export function recordsSource(
  metadata: Record<string, string> | undefined,
  source: SourceRecord,
): boolean {
  if (!metadata) return false;
  const expected = sourceMetadata(source);
  // Versions only count when both sides know one: an unversioned listing has none.
  return Object.entries(expected).every(
    ([name, value]) => name === SOURCE_METADATA.version || metadata[name] === value,
  );
}

/** What is at the output key now. */
export type OutputState =
  /** Nothing: write it. */
  | { kind: 'absent' }
  /** An output made from the same source version by the same chain: skip it. */
  | { kind: 'current' }
  /**
   * Something else: a different source version, another chain, or a file s3worker did not
   * write. `source` is the source recorded on it, when s3worker wrote it.
   */
  | { kind: 'different'; etag?: string; source?: RecordedSource };

/** The source an existing output records: its key, or for a long key only the key's SHA-256. */
export interface RecordedSource {
  bucket: string;
  key: string | undefined;
  keyHash?: string;
}

/** The source recorded in an output's metadata, when s3worker wrote it. */
export function recordedSource(
  metadata: Record<string, string> | undefined,
): RecordedSource | undefined {
  const bucket = metadata?.[SOURCE_METADATA.bucket];
  const key = metadata?.[SOURCE_METADATA.key];
  const keyHash = metadata?.[SOURCE_METADATA.keyHash];
  if (bucket === undefined) return undefined;
  if (key === undefined)
    return keyHash === undefined ? undefined : { bucket, key: undefined, keyHash };
  try {
    return { bucket, key: decodeURIComponent(key) };
  } catch {
    return { bucket, key: undefined };
  }
}

/** True when `recorded` names the same object (bucket and key) as `source`. */
export function sameSource(recorded: RecordedSource, source: SourceRecord): boolean {
  if (recorded.bucket !== source.bucket) return false;
  if (recorded.keyHash !== undefined) return recorded.keyHash === sha256Hex(source.key);
  return recorded.key === source.key;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Looks at the output key with one HeadObject (which needs `s3:GetObject` on the output) and
 * says whether the object there records `source`. A 404 is `absent`; any other error is thrown,
 * explained (`explainS3Error`).
 */
export async function checkOutput(
  s3: S3Sender,
  bucket: string,
  key: string,
  source: SourceRecord,
  signal: AbortSignal,
): Promise<OutputState> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: signal,
    });
    if (recordsSource(head.Metadata, source)) return { kind: 'current' };
    const recorded = recordedSource(head.Metadata);
    return {
      kind: 'different',
      ...(head.ETag ? { etag: head.ETag } : {}),
      ...(recorded ? { source: recorded } : {}),
    };
  } catch (err) {
    if (isNotFound(err)) return { kind: 'absent' };
    throw signal.aborted ? err : explainS3Error(err, { action: 'HeadObject', bucket, key });
  }
}

/** True for the SDK's 404 errors (HeadObject has no body, so the name is `NotFound`). */
export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

function stripQuotes(etag: string): string {
  return etag.replace(/^"|"$/g, '');
}
