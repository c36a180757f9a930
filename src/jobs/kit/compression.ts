import type { Duplex } from 'node:stream';
import { createBuiltinTransform } from './builtin-transforms.js';

/** The codecs a job can write its output with. */
export const CODECS = ['gzip', 'zstd', 'none'] as const;
export type Codec = (typeof CODECS)[number];

/** Options of `compressStage`. */
export interface CompressOptions {
  /** Level: gzip 0–9 (default 6), zstd 1–22 (default 3). Higher costs much more CPU for a few percent. */
  level?: number | undefined;
}

/**
 * A new compressing stage for one stream, or undefined for `none`. gzip spreads one stream over
 * every core (pigz-style blocks, one gzip member); zstd runs on libuv's thread pool.
 */
export function compressStage(codec: Codec, options: CompressOptions = {}): Duplex | undefined {
  if (codec === 'none') return undefined;
  return codec === 'gzip'
    ? createBuiltinTransform('gzip', { gzipLevel: options.level })
    : createBuiltinTransform('zstd', { zstdLevel: options.level });
}

/** A new decompressing stage for `codec`, or undefined for `none`. Multi-member/multi-frame inputs decode whole. */
export function decompressStage(codec: Codec): Duplex | undefined {
  if (codec === 'none') return undefined;
  return createBuiltinTransform(codec === 'gzip' ? 'gunzip' : 'unzstd');
}

/** The file extension of a codec's output: `.gz`, `.zst`, or nothing. */
export function codecExtension(codec: Codec): string {
  return codec === 'gzip' ? '.gz' : codec === 'zstd' ? '.zst' : '';
}

/** The Content-Type of an object holding a codec's output, or undefined for `none`. */
export function codecContentType(codec: Codec): string | undefined {
  return codec === 'gzip' ? 'application/gzip' : codec === 'zstd' ? 'application/zstd' : undefined;
}
