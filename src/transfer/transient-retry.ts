import { setTimeout as sleep } from 'node:timers/promises';
import { S3WorkerError } from '../errors.js';

/** Code of a body that ended before its announced length (a proxy or a server cut it short). */
export const BODY_TRUNCATED = 'BODY_TRUNCATED';

/** Network error codes that a new connection may not see again. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  BODY_TRUNCATED,
]);

/** S3 error codes that mean "slow down" or "try again". */
const TRANSIENT_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
]);

interface ErrorLike {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

/**
 * True for a failure a later attempt can get past: a connection refused, reset or timed out, a
 * body cut short, HTTP 5xx, 429, SlowDown. Not for answers that would repeat (4xx other than
 * 429, a checksum or size mismatch, a changed object) nor for an abort.
 */
export function isTransientError(err: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = err;
  while (current !== null && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const e = current as ErrorLike;
    if (e.name === 'AbortError') return false;
    if (current instanceof S3WorkerError) {
      if (e.code === BODY_TRUNCATED) return true;
      current = e.cause;
      continue;
    }
    if (e.code !== undefined && TRANSIENT_CODES.has(e.code)) return true;
    if (e.name !== undefined && TRANSIENT_NAMES.has(e.name)) return true;
    if (e.Code !== undefined && TRANSIENT_NAMES.has(e.Code)) return true;
    const status = e.$metadata?.httpStatusCode;
    if (status !== undefined) return status >= 500 || status === 429;
    // Node's http client: the socket closed before the whole body arrived.
    if (e.message === 'aborted' || e.message === 'socket hang up') return true;
    current = e.cause;
  }
  return false;
}

/** Options of {@link retryTransient}. */
export interface RetryTransientOptions {
  /**
   * How long after the first failure another attempt may still start, ms. Past it the last
   * error is thrown (the endpoint is down, not hiccuping).
   */
  windowMs: number;
  /** First delay, ms, doubled per attempt up to `maxDelayMs`, each with jitter. Default 250. */
  baseDelayMs?: number;
  /** Longest delay between two attempts, ms. Default 8000. */
  maxDelayMs?: number;
  /** Aborting stops waiting and throws the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Its `retries` goes up by one per retry (the run's `Retries` metric). */
  counts?: { retries: number } | undefined;
  /** Told of each retry (for a log line). */
  onRetry?: ((err: unknown, attempt: number, delayMs: number) => void) | undefined;
}

/**
 * Runs `attempt` again after a transient failure ({@link isTransientError}), with exponential
 * backoff and jitter, until it succeeds or `windowMs` has passed since the first failure. On
 * top of the SDK's own attempts (which give up within a second): this is what carries a
 * request through a reset, a stall, a burst of 503s, or a restart of the endpoint.
 */
export async function retryTransient<T>(
  attempt: (n: number) => Promise<T>,
  options: RetryTransientOptions,
): Promise<T> {
  const base = options.baseDelayMs ?? 250;
  const max = options.maxDelayMs ?? 8000;
  let firstFailure: number | undefined;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (options.signal?.aborted || !isTransientError(err)) throw err;
      const now = Date.now();
      firstFailure ??= now;
      const delay = backoffDelay(n, base, max);
      if (now + delay - firstFailure > options.windowMs) throw err;
      if (options.counts) options.counts.retries++;
      options.onRetry?.(err, n, delay);
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : {}).catch(() => {
        throw options.signal?.reason ?? err;
      });
    }
  }
}

/** Delay before retry `n` (1-based): `base × 2^(n-1)` capped at `max`, times a jitter of 0.5–1. */
export function backoffDelay(n: number, base: number, max: number): number {
  const ceiling = Math.min(max, base * 2 ** (n - 1));
  return Math.round(ceiling * (0.5 + Math.random() * 0.5));
}
