import { describe, expect, it } from 'vitest';
import { BufferGarbageLimit, type GcFunction } from '../../src/jobs/kit/buffer-garbage-limit.js';

const MiB = 1024 * 1024;

/** A fake process: buffers grow with the data and a full collection frees the dead ones. */
function fakeProcess(live: number) {
  const state = { held: live, calls: [] as unknown[] };
  const gc: GcFunction = (options) => {
    state.calls.push(options);
    state.held = live;
  };
  return { state, gc, bufferBytes: () => state.held };
}

describe('BufferGarbageLimit', () => {
  it('asks for a full collection each time buffers grew by the slack, looking every checkEvery bytes', () => {
    const p = fakeProcess(20 * MiB);
    const limit = new BufferGarbageLimit({
      slack: 16 * MiB,
      checkEvery: 4 * MiB,
      gc: p.gc,
      bufferBytes: p.bufferBytes,
    });
    let peak = 0;
    for (let i = 0; i < 400; i++) {
      // 1 MiB of lines leaves 0.5 MiB of dead buffers.
      p.state.held += 0.5 * MiB;
      peak = Math.max(peak, p.state.held);
      limit.add(MiB);
    }
    // 400 MiB of data, 200 MiB of garbage: a collection per 16 MiB of it (32-36 MiB of data).
    expect(limit.collections).toBeGreaterThanOrEqual(11);
    expect(limit.collections).toBeLessThanOrEqual(13);
    expect(p.state.calls.every((c) => (c as { type: string }).type === 'major')).toBe(true);
    // Never more than the slack plus one look's worth above the live buffers.
    expect(peak).toBeLessThanOrEqual(20 * MiB + 16 * MiB + 2 * MiB);
  });

  it('counts growth from the lowest level seen, so V8 collecting on its own does not hide new garbage', () => {
    const p = fakeProcess(40 * MiB);
    const limit = new BufferGarbageLimit({
      slack: 10 * MiB,
      checkEvery: MiB,
      gc: p.gc,
      bufferBytes: p.bufferBytes,
    });
    limit.add(MiB); // base 40
    p.state.held = 20 * MiB; // V8 collected by itself
    limit.add(MiB); // base 20
    p.state.held = 29 * MiB;
    limit.add(MiB);
    expect(limit.collections).toBe(0);
    p.state.held = 31 * MiB;
    limit.add(MiB);
    expect(limit.collections).toBe(1);
  });

  it('does nothing where Node offers no collector', () => {
    let looked = 0;
    const limit = new BufferGarbageLimit({
      gc: undefined,
      bufferBytes: () => {
        looked++;
        return 0;
      },
    });
    for (let i = 0; i < 100; i++) limit.add(MiB);
    expect(limit.collections).toBe(0);
    expect(looked).toBe(0);
  });

  it('uses the global gc when the process has one (the s3worker bin starts Node with --expose-gc)', () => {
    const global = globalThis as { gc?: GcFunction };
    const before = global.gc;
    let called = 0;
    global.gc = () => {
      called++;
    };
    try {
      let held = 0;
      const limit = new BufferGarbageLimit({
        slack: MiB,
        checkEvery: MiB,
        bufferBytes: () => held,
      });
      limit.add(MiB);
      held = 2 * MiB;
      limit.add(MiB);
      expect(called).toBe(1);
    } finally {
      global.gc = before;
    }
  });
});
