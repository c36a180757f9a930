import type { TransferRetry } from './transfer-parts.js';
import { retryTransient } from './transient-retry.js';

/** What `sendWithRetry` needs to say where a retry happened. */
export interface RetryContext {
  action: string;
  bucket: string;
  key: string;
}

/**
 * `send()` (one SDK request), tried again after a transient failure (reset, timeout, 5xx,
 * SlowDown) that the SDK's own attempts did not get past, with backoff and jitter for up to
 * `retry.windowMs` (see `retryTransient`), logging each retry. Only for requests whose body can
 * be sent again (buffers, no streams) and whose effect is the same when repeated.
 */
export function sendWithRetry<T>(
  send: () => Promise<T>,
  retry: TransferRetry,
  context: RetryContext,
  signal?: AbortSignal,
): Promise<T> {
  return retryTransient(send, {
    windowMs: retry.windowMs,
    signal,
    counts: retry.counts,
    onRetry: (err, attempt, delayMs) =>
      retry.log?.warn(
        { ...context, attempt, delayMs, reason: reasonOf(err) },
        'transient s3 failure; retrying',
      ),
  });
}

/** A short reason for a log line: the error's code or name and its first line. */
export function reasonOf(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string };
  const first = String(e?.message ?? err).split('\n')[0] ?? '';
  return `${e?.code ?? e?.name ?? 'Error'}: ${first.slice(0, 160)}`;
}
