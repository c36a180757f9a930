import type { ByteBudget } from './byte-budget.js';

/**
 * Part buffers shared by every upload that draws on one budget. Allocating a fresh part per
 * upload costs little for one big object, but a run of thousands of small objects would allocate
 * (and the garbage collector free) a whole part for each — gigabytes of churn for megabytes of
 * data. The budget already bounds how many parts are held at once, so keeping at most
 * `budget.limit / partSize` spare buffers never holds more memory than the budget allows.
 */
const pools = new WeakMap<ByteBudget, Map<number, Buffer[]>>();

function poolFor(budget: ByteBudget, size: number): Buffer[] {
  let bySize = pools.get(budget);
  if (!bySize) {
    bySize = new Map();
    pools.set(budget, bySize);
  }
  let pool = bySize.get(size);
  if (!pool) {
    pool = [];
    bySize.set(size, pool);
  }
  return pool;
}

/** A buffer of exactly `size` bytes (contents undefined): a spare one, or a new one. */
export function takePartBuffer(budget: ByteBudget, size: number): Buffer {
  // allocUnsafeSlow: a part is never a slice of Node's shared pool, so keeping it keeps nothing else alive.
  return poolFor(budget, size).pop() ?? Buffer.allocUnsafeSlow(size);
}

/** Hands a buffer back once no request reads it any more. */
export function returnPartBuffer(budget: ByteBudget, buffer: Buffer): void {
  const pool = poolFor(budget, buffer.length);
  if (pool.length < Math.max(1, Math.floor(budget.limit / buffer.length))) pool.push(buffer);
}
