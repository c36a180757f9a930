import type { Duplex } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { ByteBudget } from '../../transfer/byte-budget.js';
import { ParallelGzip } from './parallel-gzip.js';
import { ParallelUnzstd } from './parallel-unzstd.js';
import { ParallelZstd } from './parallel-zstd.js';

/** The transforms `--transform` accepts; repeated, they run in the order given. */
export const BUILTIN_TRANSFORMS = ['identity', 'gzip', 'gunzip', 'zstd', 'unzstd'] as const;
export type BuiltinTransformName = (typeof BUILTIN_TRANSFORMS)[number];

/** The largest block size the options accept: blocks are held whole, a few per core. */
export const MAX_CODEC_BLOCK_SIZE = 256 * 1024 * 1024;

/** Levels and block sizes of the codecs; the names match the stream-transform options. */
export interface BuiltinTransformOptions {
  /** gzip level 0–9; default 6. Level 1 is about 3× faster than 6 for a slightly larger output. */
  gzipLevel?: number | undefined;
  /** zstd level 1–22; default 3. Higher levels cost much more CPU for a few percent. */
  zstdLevel?: number | undefined;
  /** Input bytes per gzip block compressed on its own; default 1 MiB (see `ParallelGzipOptions`). */
  gzipBlockSize?: number | undefined;
  /** Input bytes per zstd frame; default 4 MiB (see `ParallelZstdOptions` for the ratio cost). */
  zstdBlockSize?: number | undefined;
  /**
   * The run's byte budget: blocks in flight in the parallel codecs are held against it
   * (`ctx.transfer.budget`). Default: none; each stage bounds its memory by its block count.
   */
  budget?: ByteBudget | undefined;
}

/**
 * Output buffers of the gunzip stream: with 16 KiB (zlib's default) a 1 GiB text decodes in
 * 65,536 trips between the thread pool and the main thread; 256 KiB cuts that 16-fold.
 */
const GUNZIP_CHUNK = 256 * 1024;

/**
 * A new stream for one built-in transform, or undefined for `identity` (no stage at all: bytes
 * go straight from download to upload). Compression spreads one stream over every core the
 * container may use (blocks on libuv's thread pool, see `ParallelGzip` and `ParallelZstd`);
 * `unzstd` streams every frame of a multi-frame file through a decoder on the thread pool;
 * `gunzip` is one stream on the thread pool (deflate cannot be split without an index) and
 * reads every member of a multi-member file.
 */
export function createBuiltinTransform(
  name: BuiltinTransformName,
  options: BuiltinTransformOptions = {},
): Duplex | undefined {
  const { budget } = options;
  switch (name) {
    case 'identity':
      return undefined;
    case 'gzip':
      return new ParallelGzip({
        level: options.gzipLevel ?? 6,
        blockSize: options.gzipBlockSize,
        budget,
      });
    case 'gunzip':
      return createGunzip({ chunkSize: GUNZIP_CHUNK });
    case 'zstd':
      return new ParallelZstd({
        level: options.zstdLevel ?? 3,
        blockSize: options.zstdBlockSize,
        budget,
      });
    case 'unzstd':
      return new ParallelUnzstd({ budget });
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
