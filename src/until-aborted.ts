/** What {@link untilAborted} resolves with when the signal aborted first. */
export const ABORTED: unique symbol = Symbol('aborted');

/**
 * `promise`'s outcome, or {@link ABORTED} as soon as `signal` aborts, whichever comes first.
 *
 * What `Promise.race([promise, stopped])` would do, without its leak: racing against a promise
 * that stays pending for a long time (a stop signal's, a batch's age) adds a reaction to it on
 * every call, and each reaction holds that race's result until the long promise settles, so a
 * loop that races each item against it keeps every item alive. Here the abort listener is
 * removed as soon as `promise` settles, and nothing else is kept.
 */
export function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal,
): Promise<T | typeof ABORTED> {
  if (signal.aborted) {
    // As Promise.race would: a later rejection of `promise` is handled, not left unhandled.
    promise.catch(() => {});
    return Promise.resolve(ABORTED);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
