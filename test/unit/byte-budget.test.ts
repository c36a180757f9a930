import { describe, expect, it, vi } from 'vitest';
import { ByteBudget } from '../../src/transfer/byte-budget.js';

/** Lets pending promise callbacks run. */
const flush = () => new Promise((r) => setImmediate(r));

describe('ByteBudget', () => {
  it('grants at once what fits and makes the rest wait until released', async () => {
    const budget = new ByteBudget(100);
    await budget.acquire(60);
    let granted = false;
    const waiting = budget.acquire(50).then(() => {
      granted = true;
    });
    await flush();
    expect(granted).toBe(false);
    expect(budget.waiting).toBe(1);
    budget.release(60);
    await waiting;
    expect(granted).toBe(true);
    expect(budget.used).toBe(50);
    expect(budget.highWaterMark).toBe(60);
  });

  it('serves waiters first come, first served: a small request never overtakes a large one', async () => {
    const budget = new ByteBudget(100);
    await budget.acquire(90);
    const order: string[] = [];
    const large = budget.acquire(80).then(() => order.push('large'));
    const small = budget.acquire(5).then(() => order.push('small'));
    await flush();
    // 5 bytes would fit now, but the large request came first.
    expect(order).toEqual([]);
    budget.release(90);
    await Promise.all([large, small]);
    expect(order).toEqual(['large', 'small']);
  });

  it('lets a request larger than the whole limit through alone instead of deadlocking', async () => {
    const budget = new ByteBudget(100);
    await budget.acquire(10);
    let huge = false;
    const hugeP = budget.acquire(250).then(() => {
      huge = true;
    });
    const after = budget.acquire(1);
    await flush();
    expect(huge).toBe(false);
    budget.release(10);
    await hugeP;
    expect(budget.used).toBe(250);
    let afterGranted = false;
    void after.then(() => {
      afterGranted = true;
    });
    await flush();
    expect(afterGranted).toBe(false);
    budget.release(250);
    await after;
    expect(budget.used).toBe(1);
  });

  it('drops an aborted waiter, rejects with the reason, and wakes those behind it', async () => {
    const budget = new ByteBudget(100);
    await budget.acquire(50);
    const controller = new AbortController();
    const blocked = budget.acquire(80, controller.signal);
    const behind = budget.acquire(40);
    controller.abort(new Error('stop'));
    await expect(blocked).rejects.toThrow('stop');
    await behind;
    expect(budget.used).toBe(90);
    expect(budget.waiting).toBe(0);
  });

  it('serves urgent waiters before normal ones, and each kind in arrival order', async () => {
    const budget = new ByteBudget(10);
    await budget.acquire(10);
    const order: string[] = [];
    const all = [
      budget.acquire(10).then(() => order.push('normal-1')),
      budget.acquire(10, undefined, { urgent: true }).then(() => order.push('urgent-1')),
      budget.acquire(10).then(() => order.push('normal-2')),
      budget.acquire(10, undefined, { urgent: true }).then(() => order.push('urgent-2')),
    ];
    for (let i = 0; i < 4; i++) {
      budget.release(10);
      await flush();
    }
    await Promise.all(all);
    expect(order).toEqual(['urgent-1', 'urgent-2', 'normal-1', 'normal-2']);
  });

  it('tryAcquire never jumps the queue', async () => {
    const budget = new ByteBudget(100);
    await budget.acquire(70);
    const queued = budget.acquire(50);
    expect(budget.tryAcquire(10)).toBe(false);
    budget.release(70);
    await queued;
    expect(budget.tryAcquire(10)).toBe(true);
    expect(budget.used).toBe(60);
  });

  it('lets a stalled waiter that holds nothing through over the limit, and only then', async () => {
    vi.useFakeTimers();
    try {
      const budget = new ByteBudget(100, 1000);
      await budget.acquire(100);
      let holdsNothing = false;
      let granted = false;
      void budget.acquire(30, undefined, { holdsNothing: () => holdsNothing }).then(() => {
        granted = true;
      });
      await vi.advanceTimersByTimeAsync(5000);
      expect(granted).toBe(false);
      holdsNothing = true;
      await vi.advanceTimersByTimeAsync(1000);
      expect(granted).toBe(true);
      expect(budget.overdrafts).toBe(1);
      expect(budget.used).toBe(130);
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not overdraw while releases keep happening', async () => {
    vi.useFakeTimers();
    try {
      const budget = new ByteBudget(100, 1000);
      await budget.acquire(60);
      await budget.acquire(40);
      void budget.acquire(100, undefined, { holdsNothing: () => true });
      await vi.advanceTimersByTimeAsync(900);
      budget.release(10);
      await vi.advanceTimersByTimeAsync(900);
      budget.release(10);
      await vi.advanceTimersByTimeAsync(900);
      expect(budget.overdrafts).toBe(0);
      expect(budget.used).toBe(80);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses to release more than is held', () => {
    const budget = new ByteBudget(10);
    expect(() => budget.release(1)).toThrow(RangeError);
  });
});
