import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { brotliDecompressSync, createGunzip, gunzipSync, zstdDecompressSync } from 'node:zlib';
import {
  asyncBufferFromFile,
  parquetMetadataAsync,
  parquetReadObjects,
  parquetSchema,
} from 'hyparquet';
import { csvFields } from './csv-fields.js';
import { decodeReportKey } from './decode-report-key.js';
import { ReportError } from './report-error.js';

/**
 * One row of an inventory data file, by the Parquet column names (`e_tag`, `is_latest`…; CSV
 * names such as `ETag` are mapped to them), before it becomes a `ReportedObject`.
 */
export type InventoryRow = Record<string, unknown>;

/** The columns a reader uses; the others (ACLs, encryption…) are never decoded. */
export const USED_COLUMNS = [
  'bucket',
  'key',
  'version_id',
  'is_latest',
  'is_delete_marker',
  'size',
  'last_modified_date',
  'e_tag',
  'storage_class',
  'intelligent_tiering_access_tier',
] as const;

/** `IntelligentTieringAccessTier` → `intelligent_tiering_access_tier`, `ETag` → `e_tag`: CSV schema names as Parquet spells them. */
export function columnName(csvName: string): string {
  return csvName.replace(/(?<=.)([A-Z])/g, '_$1').toLowerCase();
}

/**
 * The rows of a gzip CSV inventory file at `path`, streamed line by line: every field quoted,
 * no header, columns as `fileSchema` names them, keys URL-encoded (decoded here). `where` names
 * the file in errors.
 */
export async function* csvInventoryRows(
  path: string,
  schema: readonly string[],
  where: string,
  signal: AbortSignal,
): AsyncGenerator<InventoryRow> {
  const names = schema.map(columnName);
  const used = new Set<string>(USED_COLUMNS);
  const gunzip = createReadStream(path, { signal }).pipe(createGunzip());
  const lines = createInterface({ input: gunzip, crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line === '') continue;
      const fields = csvFields(line);
      if (fields === undefined || fields.length !== names.length) {
        throw new ReportError(
          `${where} line ${n}: ${fields === undefined ? 'not valid CSV' : `${fields.length} fields where fileSchema names ${names.length}`}`,
          {
            context: { where, line: n },
            hint: 'the data file does not match its manifest: use an unmodified report, or the next one',
          },
        );
      }
      const row: InventoryRow = {};
      for (let i = 0; i < names.length; i++) {
        const name = names[i] as string;
        if (used.has(name)) row[name] = fields[i];
      }
      const encoded = row.key as string;
      const key = decodeReportKey(encoded);
      if (key === undefined) {
        throw new ReportError(
          `${where} line ${n}: key ${JSON.stringify(encoded)} is not URL-encoded UTF-8`,
          {
            context: { where, line: n },
            hint: 'inventory CSV keys are URL-encoded by S3; use an unmodified report',
          },
        );
      }
      row.key = key;
      yield row;
    }
  } catch (err) {
    if (err instanceof ReportError || signal.aborted) throw err;
    throw new ReportError(`${where} could not be read as gzip CSV: ${(err as Error).message}`, {
      cause: err,
      context: { where, line: n },
      hint: 'the data file is not a gzip CSV file as its manifest says: use an unmodified report',
    });
  } finally {
    lines.close();
    gunzip.destroy();
  }
}

/** Parquet codecs beyond SNAPPY (built into hyparquet), decoded with Node's own zlib. */
const COMPRESSORS = {
  GZIP: (input: Uint8Array) => new Uint8Array(gunzipSync(input)),
  BROTLI: (input: Uint8Array) => new Uint8Array(brotliDecompressSync(input)),
  ZSTD: (input: Uint8Array) => new Uint8Array(zstdDecompressSync(input)),
};

/**
 * The rows of a Parquet inventory file at `path`, one row group at a time and only the columns
 * in {@link USED_COLUMNS}: memory holds one row group of those columns, never the file. Keys
 * are not URL-encoded in Parquet reports.
 */
export async function* parquetInventoryRows(
  path: string,
  where: string,
  signal: AbortSignal,
): AsyncGenerator<InventoryRow> {
  const fail = (err: unknown) =>
    new ReportError(`${where} could not be read as Parquet: ${(err as Error).message}`, {
      cause: err,
      context: { where },
      hint: 'the data file is not a Parquet file as its manifest says: use an unmodified report',
    });
  let file: Awaited<ReturnType<typeof asyncBufferFromFile>>;
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  try {
    file = await asyncBufferFromFile(path);
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    throw fail(err);
  }
  const present = new Set(parquetSchema(metadata).children.map((c) => c.element.name));
  if (!present.has('key')) {
    throw new ReportError(`${where} has no "key" column`, {
      context: { where, columns: [...present] },
      hint: 'the data file is not an S3 Inventory Parquet file: use an unmodified report',
    });
  }
  const columns = USED_COLUMNS.filter((c) => present.has(c));
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    signal.throwIfAborted();
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({
        file,
        metadata,
        columns: [...columns],
        rowStart,
        rowEnd,
        compressors: COMPRESSORS,
      });
    } catch (err) {
      throw fail(err);
    }
    rowStart = rowEnd;
    yield* rows;
  }
}
