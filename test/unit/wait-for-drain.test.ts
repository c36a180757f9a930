import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { waitForDrain } from '../../src/jobs/kit/wait-for-drain.js';

describe('waitForDrain', () => {
  it('returns at each drain and leaves no listener behind, however many waits', async () => {
    const s = new PassThrough({ highWaterMark: 4 });
    s.resume();
    const before = { close: s.listenerCount('close'), error: s.listenerCount('error') };
    let waits = 0;
    for (let i = 0; i < 50; i++) {
      if (!s.write(Buffer.alloc(16))) {
        await waitForDrain(s);
        waits++;
      }
    }
    expect(waits).toBe(50);
    expect({ close: s.listenerCount('close'), error: s.listenerCount('error') }).toEqual(before);
    expect(s.listenerCount('drain')).toBe(0);
  });

  it("returns when the stream closes, and rejects with the stream's error", async () => {
    const stuck = () => new Writable({ highWaterMark: 1, write: () => {} });
    const closed = stuck();
    closed.write('x');
    const waiting = waitForDrain(closed);
    closed.destroy();
    await waiting;
    expect(closed.destroyed).toBe(true);
    const failed = stuck();
    failed.write('x');
    const failing = waitForDrain(failed);
    failed.destroy(new Error('the tool went away'));
    await expect(failing).rejects.toThrow('the tool went away');
  });
});
