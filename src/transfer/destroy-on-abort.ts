import type { Readable } from 'node:stream';

/**
 * Destroys `stream` with the signal's reason when `signal` aborts (at once if it already has).
 * @returns a function that removes the listener; call it from `_destroy` so none leaks.
 */
export function destroyOnAbort(stream: Readable, signal: AbortSignal | undefined): () => void {
  if (signal === undefined) return () => {};
  const onAbort = () => stream.destroy(signal.reason);
  if (signal.aborted) {
    onAbort();
    return () => {};
  }
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}
