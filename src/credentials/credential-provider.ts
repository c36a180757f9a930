import { fromEnv, fromIni, fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { Logger } from 'pino';
import type { CredentialSourceName } from '../config/aws-options.js';
import { ExitCode, S3WorkerError } from '../errors.js';
import { containerEndpointForm, fromContainerEndpoint } from './container-credentials.js';
import type {
  CredentialIdentity,
  CredentialProvider,
  CredentialSource,
} from './credential-types.js';

export interface CredentialProviderOptions {
  /** `auto` (default): env keys, then the container endpoint when its variables are set, then the SDK's chain. */
  source?: CredentialSourceName;
  /** Profile for `profile` (and the chain); default AWS_PROFILE, then `default`. */
  profile?: string;
  /** Where variables are read; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  log?: Logger;
}

export interface SelectedCredentialProvider {
  provider: CredentialProvider;
  /** The source chosen up front; for the SDK chain, `sourceOf(identity)` tells after resolving. */
  source: CredentialSource;
}

/**
 * Picks the credential provider, on the SDK's own providers. `auto` mirrors the SDK's Node chain
 * but puts the container endpoint before profiles when its variables are set (a task's role is
 * what an ECS task means to use) and runs it through `fromContainerEndpoint`, which fails fast on
 * 4xx instead of retrying it. The client memoizes the result and refreshes it when less than
 * 5 minutes remain before `expiration`.
 */
export function selectCredentialProvider(
  options: CredentialProviderOptions = {},
): SelectedCredentialProvider {
  const env = options.env ?? process.env;
  const source = options.source ?? 'auto';
  const profile = options.profile ?? env.AWS_PROFILE;
  const container = containerEndpointForm(env);
  const hasEnvKeys = Boolean(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY);

  switch (source) {
    case 'env':
      return { provider: envProvider(env), source: 'env' };
    case 'container':
      return {
        provider: fromContainerEndpoint({ env, ...(options.log ? { log: options.log } : {}) }),
        source: container ?? 'container-relative-uri',
      };
    case 'profile':
      return {
        provider: noCredentialsOnFailure(
          fromIni({
            ...(profile ? { profile } : {}),
            ...(env.AWS_SHARED_CREDENTIALS_FILE
              ? { filepath: env.AWS_SHARED_CREDENTIALS_FILE }
              : {}),
            ...(env.AWS_CONFIG_FILE ? { configFilepath: env.AWS_CONFIG_FILE } : {}),
          }),
          `profile ${profile ?? 'default'}`,
        ),
        source: 'profile',
      };
    default:
      if (hasEnvKeys) return { provider: envProvider(env), source: 'env' };
      if (container) {
        return {
          provider: fromContainerEndpoint({ env, ...(options.log ? { log: options.log } : {}) }),
          source: container,
        };
      }
      return {
        provider: noCredentialsOnFailure(
          fromNodeProviderChain(profile ? { profile } : {}),
          'the AWS SDK default chain (environment, profiles, SSO, web identity, EC2 instance metadata)',
        ),
        source: 'unknown',
      };
  }
}

/**
 * `fromEnv` reads `process.env`; a caller that passes its own `env` (tests, embedding) gets the
 * same four variables read from it instead.
 */
function envProvider(env: NodeJS.ProcessEnv): CredentialProvider {
  if (env === process.env) return noCredentialsOnFailure(fromEnv(), 'the environment');
  return async () => {
    if (!env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) {
      throw noCredentials('the environment', undefined);
    }
    const expiration = env.AWS_CREDENTIAL_EXPIRATION
      ? new Date(env.AWS_CREDENTIAL_EXPIRATION)
      : undefined;
    return {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
      ...(expiration ? { expiration } : {}),
    };
  };
}

function noCredentialsOnFailure(provider: CredentialProvider, where: string): CredentialProvider {
  return async (options) => {
    try {
      return await provider(options);
    } catch (err) {
      if (err instanceof S3WorkerError) throw err;
      throw noCredentials(where, err);
    }
  };
}

function noCredentials(where: string, cause: unknown): S3WorkerError {
  const detail = cause instanceof Error ? `: ${cause.message.split('\n')[0]}` : '';
  return new S3WorkerError(`no AWS credentials found in ${where}${detail}`, {
    code: 'NO_CREDENTIALS',
    exitCode: ExitCode.NoCredentials,
    cause,
    hint: 'on ECS give the task a taskRoleArn; locally pass -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY [-e AWS_SESSION_TOKEN], or --credentials profile --profile <name>',
  });
}

const FEATURE_SOURCES: Array<[string, CredentialSource]> = [
  ['CREDENTIALS_ENV_VARS_STS_WEB_ID_TOKEN', 'web-identity'],
  ['CREDENTIALS_STS_ASSUME_ROLE_WEB_ID', 'web-identity'],
  ['CREDENTIALS_PROFILE_SSO', 'sso'],
  ['CREDENTIALS_SSO', 'sso'],
  ['CREDENTIALS_PROFILE_PROCESS', 'process'],
  ['CREDENTIALS_PROCESS', 'process'],
  ['CREDENTIALS_PROFILE', 'profile'],
  ['CREDENTIALS_ENV_VARS', 'env'],
  ['CREDENTIALS_HTTP', 'container'],
  ['CREDENTIALS_IMDS', 'ec2-instance-metadata'],
  ['CREDENTIALS_CODE', 'static'],
];

/**
 * The source of resolved credentials: the one chosen up front, or for the SDK chain the feature
 * marks the SDK's providers leave on what they return (`$source`).
 */
export function sourceOf(identity: CredentialIdentity, chosen: CredentialSource): CredentialSource {
  if (chosen !== 'unknown') return chosen;
  const marks = (identity as { $source?: Record<string, unknown> }).$source ?? {};
  for (const [feature, source] of FEATURE_SOURCES) {
    if (feature in marks) return source;
  }
  return 'unknown';
}
