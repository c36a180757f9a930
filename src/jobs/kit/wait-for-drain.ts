import { once } from 'node:events';
import type { Writable } from 'node:stream';

/**
 * Waits until `stream` wants more ('drain') or is gone ('close'); rejects with its error. Leaves
 * no listener behind: `Promise.race([once(s, 'drain'), once(s, 'close')])` leaves the loser's
 * listeners (and an 'error' listener with each) on the stream, one set per wait, so a long copy
 * piles up thousands of them (and Node warns of an EventEmitter leak). A caller that needs to
 * know which happened checks `stream.destroyed` afterwards.
 */
export async function waitForDrain(stream: Writable): Promise<void> {
  const waited = new AbortController();
  try {
    await Promise.race([
      once(stream, 'drain', { signal: waited.signal }),
      once(stream, 'close', { signal: waited.signal }),
    ]);
  } finally {
    waited.abort();
  }
}
