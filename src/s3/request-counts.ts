import type { S3Client } from '@aws-sdk/client-s3';

/**
 * What a run's S3 requests met on the way, for the run's metrics (`Retries`, `Throttled`,
 * `CredentialRefreshes`). One per run, shared by the S3 client (`countRequests`), the transfer's
 * retry window and its direct requests. Counting is a few additions per attempt.
 */
export class RequestCounts {
  /**
   * Requests sent again after a failed attempt: by the SDK's retry strategy, by the direct path
   * under that strategy, or by the transfer's retry window (`--retry-window`).
   */
  retries = 0;
  /** Attempts the service answered 503 (SlowDown) or 429: it asked the client to slow down. */
  throttled = 0;
  #credentialFetches = 0;

  /** Credentials fetched after the first: refreshes before expiry and forced ones. */
  get credentialRefreshes(): number {
    return Math.max(0, this.#credentialFetches - 1);
  }

  /** One fetch of credentials from the provider (the first is the start, not a refresh). */
  credentialsFetched(): void {
    this.#credentialFetches++;
  }

  /** One attempt's HTTP status, when it had one. */
  answered(status: number | undefined): void {
    if (status === 503 || status === 429) this.throttled++;
  }
}

type Stack = S3Client['middlewareStack'];
type AnyMiddleware = Parameters<Stack['add']>[0];

/** Per-command state on the SDK's handler context: attempts seen so far. */
const ATTEMPTS = Symbol('s3workerAttempts');

/**
 * Counts every attempt of every command the client sends into `counts`: a middleware in the
 * deserialize step, which the SDK's retry middleware runs once per attempt, so an attempt after
 * the first of one command is a retry, and each attempt's status is seen (a 503 the SDK retried
 * and got past counts as throttled too).
 */
export function countRequests(client: S3Client, counts: RequestCounts): void {
  const middleware = ((
    next: (args: unknown) => Promise<unknown>,
    context: Record<symbol, number>,
  ) =>
    async (args: unknown) => {
      const attempt = (context[ATTEMPTS] ?? 0) + 1;
      context[ATTEMPTS] = attempt;
      if (attempt > 1) counts.retries++;
      try {
        const result = (await next(args)) as { response?: { statusCode?: number } };
        counts.answered(result.response?.statusCode);
        return result;
      } catch (err) {
        const e = err as { $metadata?: { httpStatusCode?: number } };
        counts.answered(e.$metadata?.httpStatusCode);
        throw err;
      }
    }) as unknown as AnyMiddleware;
  client.middlewareStack.add(middleware, {
    step: 'deserialize',
    name: 's3workerCountRequests',
    priority: 'high',
  });
}
