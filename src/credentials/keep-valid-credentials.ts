import type { Logger } from 'pino';
import type { CredentialIdentity, CredentialProvider } from './credential-types.js';

/** Options of {@link keepValidCredentials}. */
export interface KeepValidCredentialsOptions {
  log?: Logger | undefined;
  /**
   * Credentials this close to their expiry are no longer handed out when a refresh fails: the
   * failure is thrown instead. Default 15 000 ms (a request signed now must reach S3 in time).
   */
  marginMs?: number;
  /** First wait before the next refresh attempt after a failure, ms, doubled up to `maxDelayMs`. Default 1000. */
  baseDelayMs?: number;
  /** Longest wait between refresh attempts, ms. Default 30 000. */
  maxDelayMs?: number;
  /** How long a request waits for a refresh before it is signed with the cached credentials, ms. Default 2000. */
  waitMs?: number;
  /** The clock; tests pass their own. */
  now?: () => number;
}

/**
 * Wraps a credential provider so that a failed refresh is not fatal while the credentials in hand
 * are still valid. The SDK asks for new credentials from 5 minutes before they expire, on every
 * request, and fails the request when the provider throws; an endpoint hiccup (a restarted ECS
 * agent, a timeout) then failed the run although its credentials had minutes left.
 *
 * - While the cached credentials are valid for more than `marginMs`, a refresh that fails (or
 *   takes longer than `waitMs`) hands out the cached ones, logs a warning with their expiry, and
 *   the next attempt waits a backoff (1 s, 2 s, 4 s... up to 30 s, with jitter), so the
 *   endpoint is not hammered once per request.
 * - Once they are within `marginMs` of expiry (or without cached credentials, or on a forced
 *   refresh after the server rejected them), a refresh failure is thrown as before.
 */
export function keepValidCredentials(
  provider: CredentialProvider,
  options: KeepValidCredentialsOptions = {},
): CredentialProvider {
  const now = options.now ?? Date.now;
  const margin = options.marginMs ?? 15_000;
  const base = options.baseDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 30_000;
  const waitMs = options.waitMs ?? 2000;
  let cached: CredentialIdentity | undefined;
  let refreshing: Promise<CredentialIdentity> | undefined;
  let failures = 0;
  let nextAttemptAt = 0;

  const refresh = (args: Parameters<CredentialProvider>[0]): Promise<CredentialIdentity> => {
    refreshing ??= provider(args)
      .then(
        (identity) => {
          if (failures > 0) options.log?.info({ failures }, 'credential refresh recovered');
          cached = identity;
          failures = 0;
          nextAttemptAt = 0;
          return identity;
        },
        (err: unknown) => {
          failures++;
          const ceiling = Math.min(max, base * 2 ** (failures - 1));
          const delay = Math.round(ceiling * (0.5 + Math.random() * 0.5));
          nextAttemptAt = now() + delay;
          options.log?.warn(
            {
              credentialExpiration: cached?.expiration?.toISOString(),
              retryInMs: delay,
              failures,
              reason: String((err as Error)?.message ?? err).split('\n')[0],
            },
            'credential refresh failed; using the cached credentials until they expire',
          );
          throw err;
        },
      )
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  };

  return async (args) => {
    const expiry = cached?.expiration?.getTime();
    const usable = cached !== undefined && expiry !== undefined && expiry - now() > margin;
    if (!usable || args?.forceRefresh === true) return refresh(args);
    const held = cached as CredentialIdentity;
    if (refreshing === undefined && now() < nextAttemptAt) return held;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<CredentialIdentity>((resolve) => {
      timer = setTimeout(() => resolve(held), waitMs);
    });
    try {
      return await Promise.race([refresh(args).catch(() => held), waited]);
    } finally {
      clearTimeout(timer);
    }
  };
}
