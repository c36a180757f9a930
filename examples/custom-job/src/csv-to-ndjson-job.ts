import {
  ObjectTransformJob,
  recordMap,
  type SourceObject,
  type StreamTransformConfig,
  type TransformSpec,
  z,
} from 's3worker';

/** The stream-transform options plus the ones this job adds. */
export type CsvToNdjsonConfig = StreamTransformConfig & { delimiter: string };

/**
 * Turns CSV objects into NDJSON: the first line of each object is the header, every other line
 * becomes one JSON object keyed by it. Everything else — listing, filters, concurrency, resume,
 * multipart upload, `--transform gzip` after the conversion — is ObjectTransformJob's.
 *
 * Fields may be quoted ("a, b" and "" for a quote); a quoted field cannot span lines.
 */
export class CsvToNdjsonJob extends ObjectTransformJob {
  static override readonly jobName: string = 'csv-to-ndjson';
  static override readonly description: string =
    'Convert CSV objects to NDJSON, one object per row';
  static override readonly configSchema = ObjectTransformJob.configSchema.extend({
    delimiter: z
      .string()
      .length(1)
      .default(',')
      .describe('Field separator, one character. Default ",".'),
  });

  declare readonly config: CsvToNdjsonConfig;

  /** Only `.csv` keys; other objects under the input prefix are left alone. */
  override filter(object: SourceObject): boolean {
    return object.key.toLowerCase().endsWith('.csv');
  }

  /** `data/2026/a.csv` → `data/2026/a.ndjson` (plus `.gz` when `--transform gzip` follows). */
  override outputKey(object: SourceObject): string {
    return super.outputKey({ ...object, relKey: object.relKey.replace(/\.csv$/i, '.ndjson') });
  }

  override contentType(object: SourceObject, outputKey: string): string {
    return outputKey.endsWith('.ndjson')
      ? 'application/x-ndjson'
      : super.contentType(object, outputKey);
  }

  /** The CSV → NDJSON map first, then whatever `--transform` names (identity by default). */
  override async transform(object: SourceObject): Promise<TransformSpec> {
    const delimiter = this.config.delimiter;
    // One header per object: transform() is called once per object.
    let header: string[] | undefined;
    const toRecord = recordMap((line: string) => {
      const fields = parseCsvLine(line.replace(/\r$/, ''), delimiter);
      if (header === undefined) {
        header = fields;
        return null;
      }
      if (line.trim() === '') return null;
      return Object.fromEntries(header.map((name, i) => [name, fields[i] ?? '']));
    });
    return [toRecord, ...[await super.transform(object)].flat()];
  }
}

/** Splits one CSV line; `"..."` quotes a field and `""` inside it is one quote. */
export function parseCsvLine(line: string, delimiter: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"' && field === '') {
      quoted = true;
    } else if (c === delimiter) {
      fields.push(field);
      field = '';
    } else {
      field += c;
    }
  }
  fields.push(field);
  return fields;
}

export default CsvToNdjsonJob;
