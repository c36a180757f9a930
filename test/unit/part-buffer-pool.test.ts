import { describe, expect, it } from 'vitest';
import { PartBufferPool } from '../../src/transfer/part-buffer-pool.js';

const MiB = 1024 * 1024;

describe('part buffers shared by the uploads of one transfer', () => {
  it('hands a returned buffer to the next upload instead of allocating another', () => {
    const pool = new PartBufferPool(32 * MiB);
    const first = pool.take(8 * MiB);
    pool.give(first);
    expect(pool.take(8 * MiB)).toBe(first);
  });

  it('keeps no more spare buffers than the budget could hold at once', () => {
    const pool = new PartBufferPool(16 * MiB);
    const taken = [1, 2, 3].map(() => pool.take(8 * MiB));
    for (const b of taken) pool.give(b);
    const again = [1, 2, 3].map(() => pool.take(8 * MiB));
    // Two of the three came back from the pool; the third is new.
    expect(again.filter((b) => taken.includes(b))).toHaveLength(2);
  });

  it('never mixes sizes or pools', () => {
    const a = new PartBufferPool(64 * MiB);
    const b = new PartBufferPool(64 * MiB);
    const buf = a.take(8 * MiB);
    a.give(buf);
    expect(b.take(8 * MiB)).not.toBe(buf);
    expect(a.take(16 * MiB)).not.toBe(buf);
    expect(a.take(8 * MiB)).toBe(buf);
  });
});
