import type { fromHttp } from '@aws-sdk/credential-providers';

/** A credentials provider as the SDK takes it (`options.forceRefresh` skips its cache). */
export type CredentialProvider = ReturnType<typeof fromHttp>;

/** What a provider resolves to: keys, optional session token and expiry. */
export type CredentialIdentity = Awaited<ReturnType<CredentialProvider>>;

/**
 * Where the credentials came from, as logged at start and shown by `doctor`:
 * `env` (AWS_ACCESS_KEY_ID...), `container-relative-uri` (ECS task role), `container-full-uri`
 * (EKS Pod Identity or a local endpoint), `profile`, `sso`, `web-identity`, `process`,
 * `ec2-instance-metadata`, `static` (keys passed in code), `unknown`.
 */
export type CredentialSource = string;
