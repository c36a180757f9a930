import type { Readable } from 'node:stream';
import type { Transfer } from '../../../transfer/transfer.js';
import { ReportError, ReportErrorCode } from './report-error.js';

/** One data file of an inventory report, as its `manifest.json` lists it. */
export interface InventoryDataFile {
  /** Key in the report's bucket (the inventory's destination bucket). */
  key: string;
  /** Bytes. */
  size: number;
  /** Hex MD5 of the file's bytes (as stored, i.e. of the gzip file for CSV). */
  md5: string;
}

/** Data file formats s3worker reads. */
export type InventoryFormat = 'CSV' | 'Parquet';

/** What a `manifest.json` of an S3 Inventory report says (the parts a reader needs). */
export interface InventoryManifest {
  /** The bucket the report lists. */
  sourceBucket: string;
  /** The bucket holding the manifest and its data files (from `destinationBucket`'s ARN). */
  destinationBucket: string;
  fileFormat: InventoryFormat;
  /**
   * CSV: the column names of `fileSchema`, in order (a CSV file has no header). Parquet: empty
   * (each file names its own columns).
   */
  columns: string[];
  files: InventoryDataFile[];
}

/** A manifest lists data files, not objects: even a report of billions of objects stays small. */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/**
 * Reads and checks the `manifest.json` of an S3 Inventory report, at `bucket`/`key`, with one
 * GetObject through `transfer`. Throws `ReportError` (exit 5) when it is not a manifest s3worker
 * can use, saying what is wrong and what to do.
 */
export async function readInventoryManifest(
  transfer: Transfer,
  location: { bucket: string; key: string },
  signal: AbortSignal,
): Promise<InventoryManifest> {
  const body = transfer.download({ bucket: location.bucket, key: location.key, signal });
  const text = await readCapped(
    body,
    MAX_MANIFEST_BYTES,
    `s3://${location.bucket}/${location.key}`,
  );
  return parseInventoryManifest(text, `s3://${location.bucket}/${location.key}`);
}

async function readCapped(body: Readable, max: number, where: string): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > max) {
        throw new ReportError(`${where} is larger than ${max} bytes: not an inventory manifest`, {
          context: { where },
          hint: 'pass the manifest.json of the report (…/<config id>/<date>/manifest.json), not a data file',
        });
      }
      chunks.push(chunk);
    }
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Parses the text of a `manifest.json`; `where` names it in errors. Checks every field a reader
 * relies on and lists the problems found, so a wrong file is refused before any data file is
 * read.
 */
export function parseInventoryManifest(text: string, where: string): InventoryManifest {
  const invalid = (problem: string, hint?: string) =>
    new ReportError(`${where} is not a usable S3 Inventory manifest: ${problem}`, {
      context: { where },
      hint:
        hint ??
        'pass the manifest.json that S3 Inventory wrote (…/<config id>/<date>/manifest.json), unmodified',
    });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalid(`not JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw invalid('not a JSON object');
  const m = json as Record<string, unknown>;
  const problems: string[] = [];
  const str = (name: string): string => {
    const v = m[name];
    if (typeof v === 'string' && v !== '') return v;
    problems.push(`"${name}" is ${v === undefined ? 'missing' : 'not a non-empty string'}`);
    return '';
  };
  const sourceBucket = str('sourceBucket');
  const destinationArn = str('destinationBucket');
  const fileFormat = str('fileFormat');
  const fileSchema = str('fileSchema');
  const files: InventoryDataFile[] = [];
  if (!Array.isArray(m.files)) {
    problems.push(`"files" is ${m.files === undefined ? 'missing' : 'not an array'}`);
  } else {
    m.files.forEach((f: unknown, i) => {
      const file = (typeof f === 'object' && f !== null ? f : {}) as Record<string, unknown>;
      const { key, size, MD5checksum: md5 } = file;
      if (typeof key !== 'string' || key === '') problems.push(`files[${i}].key is not a key`);
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
        problems.push(`files[${i}].size is not a byte count`);
      if (typeof md5 !== 'string' || !/^[0-9a-fA-F]{32}$/.test(md5))
        problems.push(`files[${i}].MD5checksum is not a hex MD5`);
      if (problems.length === 0)
        files.push({
          key: key as string,
          size: size as number,
          md5: (md5 as string).toLowerCase(),
        });
    });
  }
  if (problems.length > 0) throw invalid(problems.join('; '));
  const destinationBucket = destinationArn.startsWith('arn:')
    ? destinationArn.slice(destinationArn.lastIndexOf(':') + 1)
    : destinationArn;
  let format: InventoryFormat;
  const upper = fileFormat.toUpperCase();
  if (upper === 'CSV') format = 'CSV';
  else if (upper === 'PARQUET') format = 'Parquet';
  else if (upper === 'ORC') {
    throw new ReportError(
      `${where} is an S3 Inventory report in ORC, which s3worker cannot read (no maintained ORC reader exists for Node.js); supported formats: CSV, Parquet`,
      {
        code: ReportErrorCode.FormatUnsupported,
        context: { where, fileFormat },
        hint: 'set the inventory configuration to CSV or Parquet and use its next report',
      },
    );
  } else throw invalid(`"fileFormat" is ${JSON.stringify(fileFormat)}; expected CSV or Parquet`);
  const columns = format === 'CSV' ? fileSchema.split(',').map((c) => c.trim()) : [];
  if (format === 'CSV' && !columns.includes('Key'))
    throw invalid(`"fileSchema" has no Key column: ${JSON.stringify(fileSchema)}`);
  return { sourceBucket, destinationBucket, fileFormat: format, columns, files };
}
