import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import type { CredentialIdentity } from './credential-types.js';

type Stack = S3Client['middlewareStack'];
type AnyMiddleware = Parameters<Stack['addRelativeTo']>[0];

/** S3 error codes that mean "these keys are past their expiry", not "these keys are wrong". */
const EXPIRED_CODES = new Set(['ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired']);

/** Whether an S3 error says the request's temporary credentials have expired. */
export function isExpiredTokenError(err: unknown, identity?: CredentialIdentity): boolean {
  const e = err as { name?: string; Code?: string } | undefined;
  const code = e?.Code ?? e?.name;
  if (code !== undefined && EXPIRED_CODES.has(code)) return true;
  // MinIO forgets a temporary key once it expires and answers InvalidAccessKeyId for it.
  return code === 'InvalidAccessKeyId' && identity?.sessionToken !== undefined;
}

/**
 * Adds a middleware between the SDK's retry and signing steps: when a request fails because its
 * temporary credentials expired (a part of a long multipart upload signed just before a
 * rotation), it forces the client's credential cache to refresh, swaps the fresh identity into
 * the request's auth scheme and sends the request once more. The upload itself goes on; only the
 * failed request is repeated. A request whose body is a stream is not repeated (the stream is
 * spent). Costs nothing on success.
 */
export function addRefreshOnExpiredToken(client: S3Client, log?: Logger): void {
  const middleware = ((next: (args: unknown) => Promise<unknown>, context: SmithyContextHolder) =>
    async (args: unknown) => {
      try {
        return await next(args);
      } catch (err) {
        const scheme = context.__smithy_context?.selectedHttpAuthScheme;
        if (!scheme || !isExpiredTokenError(err, scheme.identity)) throw err;
        // A stream body was consumed by the first try and cannot be sent again; buffers can
        // (lib-storage hands each part over as a buffer).
        if (isStream((args as { request?: { body?: unknown } }).request?.body)) throw err;
        const refresh = client.config.credentials as (options?: {
          forceRefresh?: boolean;
        }) => Promise<CredentialIdentity>;
        scheme.identity = await refresh({ forceRefresh: true });
        log?.info(
          { action: context.commandName, code: (err as { name?: string }).name },
          'credentials expired during a request, retrying it with refreshed credentials',
        );
        return await next(args);
      }
    }) as unknown as AnyMiddleware;
  client.middlewareStack.addRelativeTo(middleware, {
    name: 's3workerRefreshOnExpiredToken',
    relation: 'before',
    toMiddleware: 'httpSigningMiddleware',
    step: 'finalizeRequest',
  } as Parameters<Stack['addRelativeTo']>[1]);
}

function isStream(body: unknown): boolean {
  return typeof (body as { pipe?: unknown } | undefined)?.pipe === 'function';
}

interface SmithyContextHolder {
  commandName?: string;
  __smithy_context?: { selectedHttpAuthScheme?: { identity: CredentialIdentity } };
}
