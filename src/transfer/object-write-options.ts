import type { ChecksumAlgorithm, StorageClass } from '@aws-sdk/client-s3';
import { S3WorkerError } from '../errors.js';

/** S3's limit on user metadata: names and values, in UTF-8 bytes, together. */
export const MAX_USER_METADATA_BYTES = 2048;

/** Server-side encryption of the written object. */
export type SseOption = { type: 'AES256' } | { type: 'aws:kms'; keyId?: string };

/** How an object is written: its attributes and the conditions of the write. */
export interface ObjectWriteOptions {
  /** `Content-Type`. Default: none (S3 answers `binary/octet-stream`). */
  contentType?: string | undefined;
  /** `Content-Encoding` (e.g. `gzip` for a `.gz` a browser should inflate). Default: none. */
  contentEncoding?: string | undefined;
  /** User metadata (`x-amz-meta-*`); names and values count against S3's 2 KB limit. Default: none. */
  metadata?: Record<string, string> | undefined;
  /** Object tags, sent with the write itself (no separate PutObjectTagging call). Default: none. */
  tags?: Record<string, string> | undefined;
  /** Storage class. Default: the bucket's (STANDARD). */
  storageClass?: StorageClass | undefined;
  /** Server-side encryption. Default: the bucket's. */
  sse?: SseOption | undefined;
  /**
   * Checksum sent with every request and verified by S3 (default CRC32, or none when the client
   * was built with `requestChecksumCalculation: WHEN_REQUIRED`). With a CRC algorithm a
   * multipart upload asks for a full-object checksum, so downloads can verify the whole object.
   * `false`: no checksum headers (stores that reject them).
   */
  checksumAlgorithm?: ChecksumAlgorithm | false | undefined;
  /** Write only if the key does not exist (`If-None-Match: *`); else the write fails with `OBJECT_EXISTS`. Default false. */
  ifNoneMatch?: boolean | undefined;
}

/** The object-level fields of a PutObject or CreateMultipartUpload, as the SDK's input names them. */
export interface ObjectWriteParams {
  Bucket: string;
  Key: string;
  ContentType?: string | undefined;
  ContentEncoding?: string | undefined;
  Metadata?: Record<string, string> | undefined;
  Tagging?: string | undefined;
  StorageClass?: StorageClass | undefined;
  ServerSideEncryption?: 'AES256' | 'aws:kms' | undefined;
  SSEKMSKeyId?: string | undefined;
}

/**
 * The one serialisation of an object write's attributes: the SDK path sends these fields in
 * PutObject and CreateMultipartUpload, and the direct path turns the same object into headers
 * with {@link objectWriteHeaders}, so an option cannot reach one path and not the other.
 */
export function objectWriteParams(
  bucket: string,
  key: string,
  o: ObjectWriteOptions,
): ObjectWriteParams {
  const metadataBytes = Object.entries(o.metadata ?? {}).reduce(
    (n, [name, value]) => n + Buffer.byteLength(name) + Buffer.byteLength(value),
    0,
  );
  if (metadataBytes > MAX_USER_METADATA_BYTES) {
    throw new S3WorkerError(
      `the metadata of s3://${bucket}/${key} takes ${metadataBytes} bytes, more than S3's ${MAX_USER_METADATA_BYTES}`,
      {
        code: 'METADATA_TOO_LARGE',
        context: { bucket, key, metadataBytes },
        hint: 'shorten the --metadata names and values',
      },
    );
  }
  return {
    Bucket: bucket,
    Key: key,
    ContentType: o.contentType,
    ContentEncoding: o.contentEncoding,
    Metadata: o.metadata,
    Tagging: o.tags === undefined ? undefined : encodeTags(o.tags),
    StorageClass: o.storageClass,
    ServerSideEncryption: o.sse?.type,
    SSEKMSKeyId: o.sse?.type === 'aws:kms' ? o.sse.keyId : undefined,
  };
}

/** The request header of each field, as S3's REST API names it. */
const HEADERS: Record<string, string | null> = {
  Bucket: null,
  Key: null,
  ContentType: 'content-type',
  ContentEncoding: 'content-encoding',
  Metadata: null,
  Tagging: 'x-amz-tagging',
  StorageClass: 'x-amz-storage-class',
  ServerSideEncryption: 'x-amz-server-side-encryption',
  SSEKMSKeyId: 'x-amz-server-side-encryption-aws-kms-key-id',
};

/**
 * `params` as request headers, for a request sent without the SDK. `undefined` when a field has
 * a value but no known header: the caller must then send the request through the SDK, which
 * knows every field, rather than drop one.
 */
export function objectWriteHeaders(params: ObjectWriteParams): Record<string, string> | undefined {
  const headers: Record<string, string> = {};
  for (const [field, value] of Object.entries(params)) {
    if (value === undefined) continue;
    if (field === 'Metadata') {
      for (const [name, v] of Object.entries(value as Record<string, string>)) {
        headers[`x-amz-meta-${name.toLowerCase()}`] = v;
      }
      continue;
    }
    const header = HEADERS[field];
    if (header === undefined) return undefined;
    if (header !== null) headers[header] = String(value);
  }
  return headers;
}

/** `x-amz-tagging` wants a URL query string; `+` for a space would be read as a plus sign. */
function encodeTags(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}
