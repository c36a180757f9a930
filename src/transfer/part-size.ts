import { MAX_PART_SIZE, MIN_PART_SIZE } from '../config/transfer-options.js';

/** S3's most parts per upload. */
export const MAX_PARTS = 10_000;
/** Parts of one size before the size doubles, for a body of unknown length. */
export const PARTS_PER_DOUBLING = 1000;
const MiB = 1024 * 1024;

/** Options of {@link partSizeSchedule}. */
export interface PartSizeScheduleOptions {
  /** The configured part size (`--part-size`): the size of the first parts. */
  partSize: number;
  /** The body's exact length, when known. */
  expectedBytes?: number | undefined;
  /** Parts of one size before it doubles (unknown length). Default {@link PARTS_PER_DOUBLING}. */
  partsPerDoubling?: number | undefined;
}

/**
 * The size of each part of one upload, so that no upload fails for S3's 10,000-part limit:
 *
 * - **Known length** (a copy of a listed object): one size for every part, the configured one
 *   or, when 10,000 of those would not hold the body, the smallest whole MiB that does (a
 *   5 TiB object gets 525 MiB parts).
 * - **Unknown length** (a transform's output, a dump): parts 1–1000 are `partSize`, parts
 *   1001–2000 twice that, and so on, doubling every 1,000 parts up to S3's 5 GiB: 10,000 parts
 *   then hold `partSize × 1000 × 1023` bytes, about 4.9 TiB from 5 MiB parts (7.8 TiB from the
 *   default 8 MiB), so a 1 TiB stream never fails for its part count. Memory follows the part
 *   being sent: only a stream past 1000 × `partSize` pays for larger parts.
 *
 * @returns the size of part `n` (1-based).
 */
export function partSizeSchedule(options: PartSizeScheduleOptions): (partNumber: number) => number {
  const { partSize, expectedBytes } = options;
  if (expectedBytes !== undefined) {
    const needed = Math.ceil(expectedBytes / MAX_PARTS / MiB) * MiB;
    const size = Math.min(MAX_PART_SIZE, Math.max(partSize, needed, MIN_PART_SIZE));
    return () => size;
  }
  const every = options.partsPerDoubling ?? PARTS_PER_DOUBLING;
  return (partNumber) =>
    Math.min(MAX_PART_SIZE, partSize * 2 ** Math.floor((partNumber - 1) / every));
}
