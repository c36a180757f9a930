import type { Duplex } from 'node:stream';
import { constants, createGunzip, createZstdCompress, createZstdDecompress } from 'node:zlib';
import { ParallelGzip } from './parallel-gzip.js';

/** The transforms `--transform` accepts; repeated, they run in the order given. */
export const BUILTIN_TRANSFORMS = ['identity', 'gzip', 'gunzip', 'zstd', 'unzstd'] as const;
export type BuiltinTransformName = (typeof BUILTIN_TRANSFORMS)[number];

/** Levels of the compressing transforms. */
export interface BuiltinTransformOptions {
  /** gzip level 0–9; default 6. Level 1 is about 3× faster than 6 for a slightly larger output. */
  gzipLevel?: number | undefined;
  /** zstd level 1–22; default 3. Higher levels cost much more CPU for a few percent. */
  zstdLevel?: number | undefined;
}

// zlib's own 16 KiB chunks mean four times as many stream callbacks per byte as needed.
const CHUNK = 64 * 1024;

/**
 * A new stream for one built-in transform, or undefined for `identity` (no stage at all: bytes
 * go straight from download to upload). zlib and zstd run on libuv's thread pool, so objects
 * processed in parallel use several cores; gzip also spreads one object over them.
 */
export function createBuiltinTransform(
  name: BuiltinTransformName,
  options: BuiltinTransformOptions = {},
): Duplex | undefined {
  switch (name) {
    case 'identity':
      return undefined;
    case 'gzip':
      // One object's gzip on every core (pigz-style blocks), not on one thread.
      return new ParallelGzip({ level: options.gzipLevel ?? 6 });
    case 'gunzip':
      return createGunzip({ chunkSize: CHUNK });
    case 'zstd':
      return createZstdCompress({
        chunkSize: CHUNK,
        params: { [constants.ZSTD_c_compressionLevel]: options.zstdLevel ?? 3 },
      });
    case 'unzstd':
      return createZstdDecompress({ chunkSize: CHUNK });
  }
}

const SUFFIX: Partial<Record<BuiltinTransformName, string>> = { gzip: '.gz', zstd: '.zst' };
const UNSUFFIX: Partial<Record<BuiltinTransformName, string>> = { gunzip: '.gz', unzstd: '.zst' };

/**
 * The default key template for a chain: `{relkey}` with each compression's suffix appended
 * (`gzip` → `.gz`, `zstd` → `.zst`) and each decompression's suffix removed when the key has it
 * (`gunzip` turns `a.txt.gz` into `a.txt`; `b.bin` stays `b.bin`). Applied in chain order, so
 * `gunzip,zstd` maps `a.gz` to `a.zst`.
 */
export function applyDefaultSuffixes(
  relKey: string,
  chain: readonly BuiltinTransformName[],
): string {
  let key = relKey;
  for (const name of chain) {
    const add = SUFFIX[name];
    const remove = UNSUFFIX[name];
    if (add) key += add;
    else if (remove && key.endsWith(remove) && key.length > remove.length) {
      key = key.slice(0, -remove.length);
    }
  }
  return key;
}

const TYPES_BY_EXT: Record<string, string> = {
  '.gz': 'application/gzip',
  '.tgz': 'application/gzip',
  '.zst': 'application/zstd',
  '.json': 'application/json',
  '.ndjson': 'application/x-ndjson',
  '.jsonl': 'application/x-ndjson',
  '.txt': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.tsv': 'text/tab-separated-values; charset=utf-8',
  '.xml': 'application/xml',
  '.html': 'text/html; charset=utf-8',
  '.parquet': 'application/vnd.apache.parquet',
  '.tar': 'application/x-tar',
  '.zip': 'application/zip',
  '.sql': 'application/sql',
};

/**
 * The Content-Type of an output: the last compressing transform decides (`gzip` →
 * `application/gzip`, `zstd` → `application/zstd`), else the output key's extension, else
 * `application/octet-stream`. No `Content-Encoding` is set: a `.gz` object *is* a gzip file, and
 * `Content-Encoding: gzip` would make HTTP clients (browsers, curl --compressed, some SDKs)
 * decompress it silently on download, so the bytes fetched would not be the bytes stored.
 */
export function guessContentType(
  outputKey: string,
  chain: readonly BuiltinTransformName[],
): string {
  const last = chain.filter((n) => n !== 'identity').at(-1);
  if (last === 'gzip') return 'application/gzip';
  if (last === 'zstd') return 'application/zstd';
  const slash = outputKey.lastIndexOf('/');
  const base = outputKey.slice(slash + 1).toLowerCase();
  const dot = base.lastIndexOf('.');
  return (dot > 0 ? TYPES_BY_EXT[base.slice(dot)] : undefined) ?? 'application/octet-stream';
}
