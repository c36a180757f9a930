import { describe, expect, it } from 'vitest';
import { MAX_PART_SIZE, MIN_PART_SIZE } from '../../src/config/transfer-options.js';
import { MAX_PARTS, partSizeSchedule } from '../../src/transfer/part-size.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

/** Bytes that 10,000 parts of the schedule hold, and the largest part. */
function capacity(sizeOf: (n: number) => number): { bytes: number; largest: number } {
  let bytes = 0;
  let largest = 0;
  for (let n = 1; n <= MAX_PARTS; n++) {
    bytes += sizeOf(n);
    largest = Math.max(largest, sizeOf(n));
  }
  return { bytes, largest };
}

describe('part sizes that never hit the 10,000-part limit', () => {
  it('a stream of unknown length: 10,000 parts hold more than 1 TiB from any part size', () => {
    for (const partSize of [MIN_PART_SIZE, 8 * MiB, 16 * MiB, 64 * MiB]) {
      const { bytes, largest } = capacity(partSizeSchedule({ partSize }));
      expect(bytes).toBeGreaterThan(4.8 * TiB);
      expect(largest).toBeLessThanOrEqual(MAX_PART_SIZE);
    }
    // The documented schedule: 1000 parts per size, then double.
    const sizeOf = partSizeSchedule({ partSize: 8 * MiB });
    expect([1, 1000, 1001, 2000, 2001, 10_000].map(sizeOf)).toEqual([
      8 * MiB,
      8 * MiB,
      16 * MiB,
      16 * MiB,
      32 * MiB,
      4 * GiB,
    ]);
    expect(capacity(sizeOf).bytes).toBe(8 * MiB * 1000 * 1023);
  });

  it('a body of known length: one size, the configured one unless 10,000 would not hold it', () => {
    expect(partSizeSchedule({ partSize: 8 * MiB, expectedBytes: GiB })(1)).toBe(8 * MiB);
    for (const size of [100 * GiB, TiB, 5 * TiB]) {
      const part = partSizeSchedule({ partSize: 8 * MiB, expectedBytes: size })(1);
      expect(Math.ceil(size / part)).toBeLessThanOrEqual(MAX_PARTS);
      expect(part).toBeLessThanOrEqual(MAX_PART_SIZE);
      expect(part % MiB).toBe(0);
    }
    expect(partSizeSchedule({ partSize: 8 * MiB, expectedBytes: 5 * TiB })(1)).toBe(525 * MiB);
  });
});
