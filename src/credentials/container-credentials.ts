import { readFile } from 'node:fs/promises';
import { fromHttp } from '@aws-sdk/credential-providers';
import type { Logger } from 'pino';
import { ExitCode, S3WorkerError } from '../errors.js';
import type { CredentialIdentity, CredentialProvider } from './credential-types.js';

/** The ECS relative-URI form goes to this link-local host; the SDK fixes it, we only name it. */
export const ECS_CONTAINER_HOST = '169.254.170.2';

export interface ContainerCredentialsOptions {
  /** Where the variables are read; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  /** Attempts per refresh, counting the first; only transient failures are retried. Default 4. */
  attempts?: number;
  /** First backoff delay in ms, doubled per retry (jitter ±25 %). Default 200 ms: 4 attempts wait ≈ 1.4 s at most. */
  baseDelayMs?: number;
  /** Timeout of one request to the endpoint, ms; a timeout is retried. Default 2000 (the SDK sets 1000 but only warns when it passes). */
  timeoutMs?: number;
}

/** Which form of the container endpoint the environment selects, or undefined when neither. */
export function containerEndpointForm(
  env: NodeJS.ProcessEnv,
): 'container-relative-uri' | 'container-full-uri' | undefined {
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) return 'container-relative-uri';
  if (env.AWS_CONTAINER_CREDENTIALS_FULL_URI) return 'container-full-uri';
  return undefined;
}

/**
 * Credentials from the ECS/EKS container endpoint, through the SDK's `fromHttp` (it checks the
 * host allow-list, sends the token, parses the answer). The SDK retries every failure 3 times
 * 1 s apart, a 404 as much as a timeout; this wrapper turns its retries off and retries only what
 * can heal (timeouts, refused connections, 5xx) with exponential backoff, and fails at once with
 * a clear error on a 4xx or an unreadable token file.
 */
export function fromContainerEndpoint(
  options: ContainerCredentialsOptions = {},
): CredentialProvider {
  const env = options.env ?? process.env;
  const attempts = options.attempts ?? 4;
  const baseDelayMs = options.baseDelayMs ?? 200;
  const timeout = options.timeoutMs ?? 2000;
  const relative = env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
  const full = env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
  const tokenFile = env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
  const token = env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
  // Where the request goes, for messages: the path of a relative URI is not a secret, but a full
  // URI's query could be, so only its origin is shown.
  const where = relative
    ? `http://${ECS_CONTAINER_HOST}${relative.split('?')[0]}`
    : full
      ? safeOrigin(full)
      : 'nowhere';

  return async (): Promise<CredentialIdentity> => {
    if (!relative && !full) {
      throw new S3WorkerError(
        'no container credentials endpoint: neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set',
        {
          code: 'NO_CREDENTIALS',
          exitCode: ExitCode.NoCredentials,
          hint: 'on ECS, give the task definition a taskRoleArn; locally, use --credentials env with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
        },
      );
    }
    if (tokenFile) await checkTokenFile(tokenFile);
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        // The SDK reads the token file on each call, so a rotated token (EKS Pod Identity) is picked up.
        const provider = fromHttp({
          ...(relative ? { awsContainerCredentialsRelativeUri: relative } : {}),
          ...(full && !relative ? { awsContainerCredentialsFullUri: full } : {}),
          ...(tokenFile ? { awsContainerAuthorizationTokenFile: tokenFile } : {}),
          ...(token && !tokenFile ? { awsContainerAuthorizationToken: token } : {}),
          timeout,
          maxRetries: 0,
        });
        // The SDK's own timeout only logs a warning (its handler lacks throwOnRequestTimeout),
        // so a hung endpoint would hang the run: bound each attempt here.
        const identity = await withTimeout(provider(), timeout);
        if (attempt > 1)
          options.log?.info(
            { attempt, endpoint: where },
            'container credentials fetched after retry',
          );
        return identity;
      } catch (err) {
        lastError = err;
        const status = httpStatus(err);
        if (status !== undefined && status >= 400 && status < 500) {
          throw rejected(where, status, err);
        }
        if (isNotAllowedUrl(err)) {
          throw new S3WorkerError(
            `the container credentials URI ${where} is not allowed by the AWS SDK`,
            {
              code: 'CREDENTIALS_ENDPOINT_NOT_ALLOWED',
              exitCode: ExitCode.Config,
              cause: err,
              hint: 'AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http on a loopback address (127.0.0.0/8, [::1]) or the ECS/EKS container host',
            },
          );
        }
        if (attempt < attempts) {
          const delay = baseDelayMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5);
          options.log?.warn(
            {
              attempt,
              attempts,
              delayMs: Math.round(delay),
              endpoint: where,
              status,
              reason: reason(err),
            },
            'container credentials endpoint failed, retrying',
          );
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    }
    const status = httpStatus(lastError);
    throw new S3WorkerError(
      `the container credentials endpoint ${where} failed ${attempts} times${status ? ` (last status ${status})` : ''}: ${reason(lastError)}`,
      {
        code: status ? 'CREDENTIALS_ENDPOINT_FAILED' : 'CREDENTIALS_ENDPOINT_UNREACHABLE',
        exitCode: status ? ExitCode.CredentialsRejected : ExitCode.EndpointUnreachable,
        cause: lastError,
        context: { endpoint: where, attempts },
        hint: status
          ? 'the endpoint that hands out the task role credentials is failing; retry later, and check the ECS agent (or the pod identity agent)'
          : 'the task cannot reach its credentials endpoint: check the task network mode and that the container runs on ECS/EKS with a task role',
      },
    );
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error(`no answer within ${ms} ms`), { name: 'TimeoutError' })),
      ms,
    );
  });
  return Promise.race([promise, timedOut]).finally(() => clearTimeout(timer));
}

async function checkTokenFile(path: string): Promise<void> {
  try {
    const text = await readFile(path, 'utf8');
    if (text.trim() === '') throw Object.assign(new Error('the file is empty'), { code: 'EMPTY' });
  } catch (err) {
    throw new S3WorkerError(
      `cannot read the container authorization token file ${path}: ${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`.trim(),
      {
        code: 'CREDENTIALS_TOKEN_FILE_UNREADABLE',
        exitCode: ExitCode.NoCredentials,
        cause: err,
        context: { tokenFile: path },
        hint: 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE must name a readable, non-empty file (on EKS the pod identity webhook mounts it)',
      },
    );
  }
}

function rejected(where: string, status: number, err: unknown): S3WorkerError {
  const hint =
    status === 401 || status === 403
      ? 'the endpoint refused the authorization token: check AWS_CONTAINER_AUTHORIZATION_TOKEN / AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE'
      : status === 404
        ? 'the credentials URI names nothing: check AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / AWS_CONTAINER_CREDENTIALS_FULL_URI, and that the task definition has a taskRoleArn'
        : 'the endpoint refused the request; this is not retried';
  return new S3WorkerError(`the container credentials endpoint ${where} answered ${status}`, {
    code: 'CREDENTIALS_ENDPOINT_REJECTED',
    exitCode: ExitCode.CredentialsRejected,
    cause: err,
    context: { endpoint: where, status },
    hint,
  });
}

/** The HTTP status in the SDK's "Server responded with status: N" error, if any. */
function httpStatus(err: unknown): number | undefined {
  const m = /Server responded with status: (\d{3})/.exec(String((err as Error)?.message ?? ''));
  return m ? Number(m[1]) : undefined;
}

function isNotAllowedUrl(err: unknown): boolean {
  return String((err as Error)?.message ?? '').startsWith('URL not accepted');
}

function reason(err: unknown): string {
  const message = String((err as Error)?.message ?? err);
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}

function safeOrigin(uri: string): string {
  try {
    const url = new URL(uri);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '(an invalid URL)';
  }
}
