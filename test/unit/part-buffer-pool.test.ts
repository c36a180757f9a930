import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/s3/byte-budget.js';
import { returnPartBuffer, takePartBuffer } from '../../src/s3/part-buffer-pool.js';

const MiB = 1024 * 1024;

describe('part buffers shared by the uploads of one budget', () => {
  it('hands a returned buffer to the next upload instead of allocating another', () => {
    const budget = new ByteBudget(32 * MiB);
    const first = takePartBuffer(budget, 8 * MiB);
    returnPartBuffer(budget, first);
    expect(takePartBuffer(budget, 8 * MiB)).toBe(first);
  });

  it('keeps no more spare buffers than the budget could hold at once', () => {
    const budget = new ByteBudget(16 * MiB);
    const taken = [1, 2, 3].map(() => takePartBuffer(budget, 8 * MiB));
    for (const b of taken) returnPartBuffer(budget, b);
    const again = [1, 2, 3].map(() => takePartBuffer(budget, 8 * MiB));
    // Two of the three came back from the pool; the third is new.
    expect(again.filter((b) => taken.includes(b))).toHaveLength(2);
  });

  it('never mixes sizes or budgets', () => {
    const a = new ByteBudget(64 * MiB);
    const b = new ByteBudget(64 * MiB);
    const buf = takePartBuffer(a, 8 * MiB);
    returnPartBuffer(a, buf);
    expect(takePartBuffer(b, 8 * MiB)).not.toBe(buf);
    expect(takePartBuffer(a, 16 * MiB)).not.toBe(buf);
    expect(takePartBuffer(a, 8 * MiB)).toBe(buf);
  });
});
