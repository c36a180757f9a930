import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Transfer } from '../../../transfer/transfer.js';
import type { InventoryDataFile } from './inventory-manifest.js';
import { ReportError, ReportErrorCode } from './report-error.js';

/**
 * Downloads one inventory data file to `path` (one GetObject, streamed: memory holds a chunk,
 * never the file) while computing its MD5, and refuses it unless size and MD5 are the ones the
 * manifest records; a refused file is removed. The caller reads the verified copy from disk.
 */
export async function downloadVerified(
  transfer: Transfer,
  options: { bucket: string; file: InventoryDataFile; path: string; signal: AbortSignal },
): Promise<void> {
  const { bucket, file, path, signal } = options;
  const hash = createHash('md5');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(
      transfer.download({ bucket, key: file.key, size: file.size, signal }),
      tap,
      createWriteStream(path),
      { signal },
    );
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
  const md5 = hash.digest('hex');
  if (bytes === file.size && md5 === file.md5) return;
  await rm(path, { force: true });
  const where = `s3://${bucket}/${file.key}`;
  throw new ReportError(
    `inventory data file ${where} does not match its manifest (${bytes} bytes with MD5 ${md5}; the manifest says ${file.size} bytes with MD5 ${file.md5}); nothing was processed`,
    {
      code: ReportErrorCode.ChecksumMismatch,
      context: {
        bucket,
        key: file.key,
        md5,
        expectedMd5: file.md5,
        bytes,
        expectedBytes: file.size,
      },
      hint: 'the report is damaged or was changed after S3 wrote it: use the next report (or an unmodified copy), then run again',
    },
  );
}
