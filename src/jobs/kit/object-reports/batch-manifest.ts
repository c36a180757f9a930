import { createInterface } from 'node:readline';
import type { Transfer } from '../../../transfer/transfer.js';
import { csvFields } from './csv-fields.js';
import { decodeReportKey } from './decode-report-key.js';
import { ReportError } from './report-error.js';
import type { ReportedObject } from './reported-object.js';

/**
 * The objects of an S3 Batch Operations CSV manifest at `bucket`/`key`: one `bucket,key` or
 * `bucket,key,versionId` per line, no header, keys URL-encoded (decoded here as forms encode:
 * `+` is a space). Streamed with one GetObject through `transfer`: a manifest of millions of
 * lines is never held in memory. A malformed line throws `ReportError` (exit 5) naming the line;
 * the lines before it have been given out by then.
 */
export async function* readBatchManifest(
  transfer: Transfer,
  location: { bucket: string; key: string },
  signal: AbortSignal,
): AsyncGenerator<ReportedObject> {
  const where = `s3://${location.bucket}/${location.key}`;
  const body = transfer.download({ bucket: location.bucket, key: location.key, signal });
  const lines = createInterface({ input: body, crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  try {
    for await (const raw of lines) {
      n++;
      const line = n === 1 && raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
      if (line.trim() === '') continue;
      yield parseManifestLine(line, n, where);
    }
  } finally {
    lines.close();
    body.destroy();
  }
}

/** One manifest line as an object; `n` (1-based) and `where` name it in errors. */
export function parseManifestLine(line: string, n: number, where: string): ReportedObject {
  const bad = (problem: string) =>
    new ReportError(`${where} line ${n}: ${problem}`, {
      context: { where, line: n },
      hint: 'a Batch Operations manifest has one "bucket,key" or "bucket,key,versionId" per line, keys URL-encoded; fix or regenerate the manifest',
    });
  const fields = csvFields(line);
  if (fields === undefined) throw bad('not valid CSV');
  if (fields.length < 2 || fields.length > 3)
    throw bad(`${fields.length} field(s); expected bucket,key or bucket,key,versionId`);
  const [bucket, encoded, versionId] = fields as [string, string, string | undefined];
  if (bucket === '') throw bad('the bucket is empty');
  const key = decodeReportKey(encoded);
  if (key === undefined) throw bad(`key ${JSON.stringify(encoded)} is not URL-encoded UTF-8`);
  if (key === '') throw bad('the key is empty');
  const object: ReportedObject = { bucket, key };
  if (versionId !== undefined && versionId !== '') object.versionId = versionId;
  return object;
}
