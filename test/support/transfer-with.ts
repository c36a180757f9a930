import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ByteBudget } from '../../src/transfer/byte-budget.js';
import type { DownloadOptions } from '../../src/transfer/download-options.js';
import { Transfer } from '../../src/transfer/transfer.js';
import type { UploadOptions, UploadResult } from '../../src/transfer/upload.js';

/** Per-call transfer settings a test varies: the budget, part and range sizes. */
interface Settings {
  budget: ByteBudget;
  partSize?: number;
  queueSize?: number;
  rangeThreshold?: number;
  rangeSize?: number;
  rangeConcurrency?: number;
  /** Small GETs and PUTs without the SDK middleware; default false (the SDK path). */
  directRequests?: boolean;
}

function transferFor(client: S3Client, s: Settings): Transfer {
  return new Transfer(client, {
    budget: s.budget,
    directRequests: s.directRequests === true,
    ...(s.rangeThreshold === undefined ? {} : { rangeThreshold: s.rangeThreshold }),
    ...(s.rangeSize === undefined ? {} : { rangeSize: s.rangeSize }),
    ...(s.rangeConcurrency === undefined ? {} : { rangeConcurrency: s.rangeConcurrency }),
  });
}

/** `Transfer.upload` on `client` with this call's budget and sizes. */
export function uploadWith(
  client: S3Client,
  options: UploadOptions & Settings,
): Promise<UploadResult> {
  const { budget, rangeThreshold, rangeSize, rangeConcurrency, directRequests, ...upload } =
    options;
  return transferFor(client, options).upload(upload);
}

/** `Transfer.download` on `client` with this call's budget and range settings. */
export function downloadWith(client: S3Client, options: DownloadOptions & Settings): Readable {
  const { budget, rangeThreshold, partSize, queueSize, directRequests, ...download } = options;
  return transferFor(client, options).download(download);
}
