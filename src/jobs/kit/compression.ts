import type { Duplex } from 'node:stream';
import type { ByteBudget } from '../../transfer/byte-budget.js';
import { createBuiltinTransform } from './builtin-transforms.js';

/** The codecs a job can write its output with. */
export const CODECS = ['gzip', 'zstd', 'none'] as const;
export type Codec = (typeof CODECS)[number];

/** Options of `compressStage`. */
export interface CompressOptions {
  /** Level: gzip 0–9 (default 6), zstd 1–22 (default 3). Higher costs much more CPU for a few percent. */
  level?: number | undefined;
  /**
   * Input bytes per block compressed on its own: gzip default 1 MiB, zstd default 4 MiB (one
   * frame each; bigger frames lose less ratio at high levels, see `ParallelZstdOptions`).
   */
  blockSize?: number | undefined;
  /**
   * The run's byte budget (`ctx.transfer.budget`): the blocks in flight are held against it, so
   * the codec's memory counts with the transfers'. Default: none (bounded by the block count).
   */
  budget?: ByteBudget | undefined;
}

/** Options of `decompressStage`. */
export interface DecompressOptions {
  /** The run's byte budget, held by zstd frames decoded whole (see `ParallelUnzstdOptions`). Default: none. */
  budget?: ByteBudget | undefined;
}

/**
 * A new compressing stage for one stream, or undefined for `none`. Both codecs spread one
 * stream over every core the container may use: gzip as pigz does (one gzip member), zstd as
 * independent frames (one `.zst` file that any zstd decoder reads whole).
 */
export function compressStage(codec: Codec, options: CompressOptions = {}): Duplex | undefined {
  if (codec === 'none') return undefined;
  const { level, blockSize, budget } = options;
  return codec === 'gzip'
    ? createBuiltinTransform('gzip', { gzipLevel: level, gzipBlockSize: blockSize, budget })
    : createBuiltinTransform('zstd', { zstdLevel: level, zstdBlockSize: blockSize, budget });
}

/**
 * A new decompressing stage for `codec`, or undefined for `none`. Every member of a
 * multi-member gzip file and every frame of a multi-frame zstd file is decoded; input that ends
 * early or is not the codec's format fails the stream.
 */
export function decompressStage(codec: Codec, options: DecompressOptions = {}): Duplex | undefined {
  if (codec === 'none') return undefined;
  return createBuiltinTransform(codec === 'gzip' ? 'gunzip' : 'unzstd', options);
}

/** The file extension of a codec's output: `.gz`, `.zst`, or nothing. */
export function codecExtension(codec: Codec): string {
  return codec === 'gzip' ? '.gz' : codec === 'zstd' ? '.zst' : '';
}

/** The Content-Type of an object holding a codec's output, or undefined for `none`. */
export function codecContentType(codec: Codec): string | undefined {
  return codec === 'gzip' ? 'application/gzip' : codec === 'zstd' ? 'application/zstd' : undefined;
}
