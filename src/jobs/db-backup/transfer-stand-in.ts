/**
 * STAND-IN until the shared transfer layer (`ctx.transfer`) and the job kit's compression stages
 * land on main: the few calls the database jobs make, with the shapes that layer will have.
 * Delete this file and switch the imports when it lands.
 */
import type { Readable, Transform } from 'node:stream';
import type { ChecksumAlgorithm, StorageClass } from '@aws-sdk/client-s3';
import { ByteBudget } from '../../s3/byte-budget.js';
import { openObjectStream } from '../../s3/download.js';
import { putSmallObject, type SseOption, uploadStream } from '../../s3/upload.js';
import type { JobContext } from '../job.js';
import { createBuiltinTransform } from '../stream-transform/builtin-transforms.js';

/** Object write options, as `ObjectWriteOptions` of the transfer layer. */
export interface ObjectWriteOptions {
  contentType?: string;
  contentEncoding?: string;
  metadata?: Record<string, string>;
  tags?: Record<string, string>;
  storageClass?: StorageClass;
  sse?: SseOption;
  checksumAlgorithm?: ChecksumAlgorithm | false;
  ifNoneMatch?: boolean;
}

/** What the database jobs use of `ctx.transfer`. */
export interface TransferStandIn {
  upload(
    options: {
      bucket: string;
      key: string;
      body: Readable | AsyncIterable<Uint8Array>;
      signal?: AbortSignal;
    } & ObjectWriteOptions,
  ): Promise<{ etag: string; bytes: number; parts: number; versionId?: string }>;
  putObject(
    options: {
      bucket: string;
      key: string;
      body: Buffer;
      signal?: AbortSignal;
    } & ObjectWriteOptions,
  ): Promise<{ etag: string; bytes: number; parts: number; versionId?: string }>;
  download(options: {
    bucket: string;
    key: string;
    size: number;
    etag?: string;
    signal?: AbortSignal;
  }): Readable;
}

const MiB = 1024 * 1024;

/** `ctx.transfer`'s stand-in: one 128 MiB budget per run. */
export function transferOf(ctx: Pick<JobContext<unknown>, 's3'>): TransferStandIn {
  const budget = new ByteBudget(128 * MiB);
  return {
    upload: (o) => uploadStream(ctx.s3, { ...o, budget }),
    putObject: (o) => putSmallObject(ctx.s3, o),
    download: (o) => openObjectStream(ctx.s3, { ...o, budget }),
  };
}

/** The compression codecs, as the kit's `Codec`. */
export type Codec = 'gzip' | 'zstd' | 'none';

/** The kit's `compressStage`: undefined for `none`. */
export function compressStage(
  codec: Codec,
  options: { level?: number } = {},
): Transform | undefined {
  if (codec === 'none') return undefined;
  return createBuiltinTransform(codec, { gzipLevel: options.level, zstdLevel: options.level }) as
    | Transform
    | undefined;
}

/** The kit's `decompressStage`: undefined for `none`. */
export function decompressStage(codec: Codec): Transform | undefined {
  if (codec === 'none') return undefined;
  return createBuiltinTransform(codec === 'gzip' ? 'gunzip' : 'unzstd') as Transform | undefined;
}

/** The kit's `codecExtension`. */
export function codecExtension(codec: Codec): '.gz' | '.zst' | '' {
  return codec === 'gzip' ? '.gz' : codec === 'zstd' ? '.zst' : '';
}
