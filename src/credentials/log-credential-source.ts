import type { Logger } from 'pino';
import type { CredentialSource } from './credential-types.js';

/** What `logCredentialSource` says: the resolved source and where requests go. */
export interface ResolvedCredentials {
  credentials: { source: CredentialSource; expiration?: Date };
  region: string;
  /** The endpoint override, when one is set. */
  endpoint?: string;
}

/**
 * One log line saying which credentials a run uses: source, expiry, region, endpoint. Never the
 * key id, secret or token.
 */
export function logCredentialSource(log: Logger, resolved: ResolvedCredentials): void {
  log.info(
    {
      credentialSource: resolved.credentials.source,
      credentialExpiration: resolved.credentials.expiration?.toISOString() ?? 'never',
      region: resolved.region,
      endpoint: resolved.endpoint ?? 'aws',
    },
    'aws credentials resolved',
  );
}
