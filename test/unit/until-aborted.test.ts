import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ABORTED, untilAborted } from '../../src/until-aborted.js';

describe('untilAborted', () => {
  it("gives the promise's value, its error, or ABORTED when the signal aborts first", async () => {
    const stop = new AbortController();
    expect(await untilAborted(Promise.resolve(1), stop.signal)).toBe(1);
    await expect(untilAborted(Promise.reject(new Error('no')), stop.signal)).rejects.toThrow('no');
    const pending = untilAborted(new Promise(() => {}), stop.signal);
    stop.abort();
    expect(await pending).toBe(ABORTED);
    expect(await untilAborted(Promise.reject(new Error('later')), stop.signal)).toBe(ABORTED);
  });

  it('leaves no listener on the signal once the promise settled', async () => {
    const stop = new AbortController();
    let listeners = 0;
    const add = stop.signal.addEventListener.bind(stop.signal);
    const remove = stop.signal.removeEventListener.bind(stop.signal);
    stop.signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners++;
      add(...args);
    }) as typeof add;
    stop.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners--;
      remove(...args);
    }) as typeof remove;
    for (let i = 0; i < 1000; i++) await untilAborted(Promise.resolve(i), stop.signal);
    await untilAborted(Promise.reject(new Error('x')), stop.signal).catch(() => {});
    expect(listeners).toBe(0);
  });

  it('keeps nothing of what it resolved with: a race against a pending promise keeps it all', async () => {
    // A collectable value is gone after many calls with us; kept by Promise.race's reactions.
    const stop = new AbortController();
    const pendingForever = new Promise<never>(() => {});
    const refs: WeakRef<object>[] = [];
    const raced: WeakRef<object>[] = [];
    for (let i = 0; i < 50; i++) {
      const a = { i };
      refs.push(new WeakRef(a));
      await untilAborted(Promise.resolve(a), stop.signal);
      const b = { i };
      raced.push(new WeakRef(b));
      await Promise.race([Promise.resolve(b), pendingForever]);
    }
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    await new Promise((r) => setTimeout(r, 10));
    gc();
    // (The last one may still sit in a register or the loop's scope.)
    expect(refs.filter((r) => r.deref() !== undefined).length).toBeLessThanOrEqual(1);
    expect(raced.filter((r) => r.deref() !== undefined).length).toBe(50);
  });
});
