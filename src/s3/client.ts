import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Logger } from 'pino';
import { type AwsOptions, DEFAULT_SOCKET_TIMEOUT_MS } from '../config/aws-options.js';
import { selectCredentialProvider, sourceOf } from '../credentials/credential-provider.js';
import type {
  CredentialIdentity,
  CredentialProvider,
  CredentialSource,
} from '../credentials/credential-types.js';
import { keepValidCredentials } from '../credentials/keep-valid-credentials.js';
import { addRefreshOnExpiredToken } from '../credentials/refresh-on-expired-token.js';
import { ConfigError, ExitCode, S3WorkerError } from '../errors.js';
import { addUnsignedPayload, isPayloadUnsigned } from './payload-signing.js';
import { countRequests, type RequestCounts } from './request-counts.js';

/** Region used with a custom endpoint when nothing else names one: MinIO's and most stores' default. */
export const DEFAULT_CUSTOM_ENDPOINT_REGION = 'us-east-1';

export interface S3ClientFactoryOptions extends Partial<AwsOptions> {
  /**
   * Sockets in the pool, per agent (http and https); size it to the job's concurrency (objects ×
   * parts in flight). Default 50. Each socket holds a connection to the endpoint open while idle
   * (keep-alive), so a larger pool costs file descriptors, not memory.
   */
  maxSockets?: number;
  /** Milliseconds to wait for a TCP connection to the endpoint before failing. Default 10 000. */
  connectionTimeoutMs?: number;
  /** Logger for retries and refreshes; never receives a secret. */
  log?: Logger;
  /** Where AWS_* variables are read; default `process.env`. Tests pass their own. */
  env?: NodeJS.ProcessEnv;
  /** Counts retries, throttled answers and credential refreshes, for the run's metrics. */
  counts?: RequestCounts;
  /**
   * The ECS task, when the caller has read its metadata already (`ctx.task`): the region comes
   * from it instead of a second request to the metadata endpoint.
   */
  task?: TaskRegionSource | undefined;
}

/** What of the ECS task's metadata tells its region. */
export interface TaskRegionSource {
  ecs: boolean;
  taskArn?: string | undefined;
  availabilityZone?: string | undefined;
}

export interface CreatedS3Client {
  client: S3Client;
  /** Which source resolved and when those credentials expire; never the secret. */
  credentials: { source: CredentialSource; expiration?: Date };
  region: string;
  /** The endpoint override, when one is set. */
  endpoint?: string;
  /** Writes are signed with `UNSIGNED-PAYLOAD` (see `payloadSigning`); direct requests must sign alike. */
  unsignedPayload: boolean;
}

/**
 * Builds the one S3 client a run uses and resolves its credentials once, so a missing or
 * rejected credential source fails at start with a clear error rather than at the first object.
 *
 * - region: `options.region`, AWS_REGION, AWS_DEFAULT_REGION, the ECS task metadata endpoint
 *   (ECS_CONTAINER_METADATA_URI_V4), else `us-east-1` when an endpoint override is set, else a
 *   ConfigError;
 * - endpoint: `options.endpoint`, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL; path-style on by default
 *   with an endpoint;
 * - retries: `options.retryMode`/`maxAttempts`, AWS_RETRY_MODE/AWS_MAX_ATTEMPTS, `standard`/3;
 * - keep-alive http and https agents with `maxSockets` each; a connection idle for
 *   `socketTimeout` (default 30 s) is dropped, so a stall is found in seconds;
 * - writes signed with `UNSIGNED-PAYLOAD` or the body's SHA-256 as `payloadSigning` says (`auto`);
 * - credentials refreshed 5 min before expiry (the SDK's cache), and once more on ExpiredToken;
 *   a refresh that fails while the cached credentials are still valid is retried with backoff
 *   and the cached ones used meanwhile (`keepValidCredentials`).
 */
export async function createS3Client(
  options: S3ClientFactoryOptions = {},
): Promise<CreatedS3Client> {
  const env = options.env ?? process.env;
  const endpoint =
    nonEmpty(options.endpoint) ??
    nonEmpty(env.AWS_ENDPOINT_URL_S3) ??
    nonEmpty(env.AWS_ENDPOINT_URL);
  const region = await resolveRegion({ region: options.region, env, endpoint, task: options.task });
  const maxAttempts = options.maxAttempts ?? intFromEnv(env, 'AWS_MAX_ATTEMPTS') ?? 3;
  const retryMode = retryModeOf(options.retryMode ?? env.AWS_RETRY_MODE);
  const maxSockets = options.maxSockets ?? 50;
  const selected = selectCredentialProvider({
    source: options.credentials ?? 'auto',
    ...(options.profile ? { profile: options.profile } : {}),
    env,
    ...(options.log ? { log: options.log } : {}),
  });

  const client = new S3Client({
    region,
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    credentials: keepValidCredentials(
      noteFetches(selected.provider, selected.source, options.log, options.counts),
      { log: options.log },
    ),
    maxAttempts,
    retryMode,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
      connectionTimeout: options.connectionTimeoutMs ?? 10_000,
      // Idle time, not total time: a long upload that keeps moving never times out.
      socketTimeout: options.socketTimeout ?? DEFAULT_SOCKET_TIMEOUT_MS,
    }),
    ...(options.log ? { logger: sdkLogger(options.log) } : {}),
    ...(options.checksumCalculation
      ? { requestChecksumCalculation: options.checksumCalculation }
      : {}),
    ...(options.checksumValidation
      ? { responseChecksumValidation: options.checksumValidation }
      : {}),
  });
  addRefreshOnExpiredToken(client, options.log);
  if (options.counts) countRequests(client, options.counts);
  const unsignedPayload = isPayloadUnsigned(options.payloadSigning ?? 'auto', endpoint);
  if (unsignedPayload) addUnsignedPayload(client);

  let identity: CredentialIdentity;
  try {
    // Goes through the client's cache, so the first request reuses these credentials.
    identity = await (client.config.credentials as () => Promise<CredentialIdentity>)();
  } catch (err) {
    client.destroy();
    throw err instanceof S3WorkerError ? err : credentialsError(err);
  }
  return {
    client,
    credentials: {
      source: sourceOf(identity, selected.source),
      ...(identity.expiration ? { expiration: identity.expiration } : {}),
    },
    region,
    ...(endpoint ? { endpoint } : {}),
    unsignedPayload,
  };
}

/**
 * Logs each fetch of credentials (at start, then each refresh) at debug level: source and new
 * expiry, never the keys, and counts it. Rotation during a long upload shows up as a series of
 * these lines.
 */
function noteFetches(
  provider: CredentialProvider,
  source: CredentialSource,
  log: Logger | undefined,
  counts: RequestCounts | undefined,
): CredentialProvider {
  if (!log && !counts) return provider;
  return async (options) => {
    const identity = await provider(options);
    counts?.credentialsFetched();
    log?.debug(
      {
        credentialSource: sourceOf(identity, source),
        credentialExpiration: identity.expiration?.toISOString() ?? 'never',
        forced: options?.forceRefresh === true,
      },
      'aws credentials fetched',
    );
    return identity;
  };
}

export interface ResolveRegionOptions {
  region?: string | undefined;
  env: NodeJS.ProcessEnv;
  endpoint?: string | undefined;
  /** Timeout for the ECS task metadata request, ms. Default 2000. */
  timeoutMs?: number;
  /** The task's metadata, read already: used instead of a request when it came from ECS. */
  task?: TaskRegionSource | undefined;
}

/** The region, in the order `createS3Client` documents. */
export async function resolveRegion(options: ResolveRegionOptions): Promise<string> {
  const { env } = options;
  const direct =
    nonEmpty(options.region) ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
  if (direct) return direct;
  const metadata = nonEmpty(env.ECS_CONTAINER_METADATA_URI_V4);
  if (metadata) {
    const fromTask = options.task?.ecs
      ? regionOfTask(options.task.taskArn, options.task.availabilityZone)
      : await regionFromTaskMetadata(metadata, options.timeoutMs ?? 2000);
    if (fromTask) return fromTask;
  }
  if (options.endpoint) return DEFAULT_CUSTOM_ENDPOINT_REGION;
  throw new ConfigError([
    {
      path: 'region',
      message:
        'no AWS region: set --region, AWS_REGION or AWS_DEFAULT_REGION (on ECS it comes from the task metadata endpoint)',
    },
  ]);
}

/** Region of the task, from the ECS task metadata endpoint v4 (`/task`): its TaskARN, else its AZ. */
async function regionFromTaskMetadata(
  base: string,
  timeoutMs: number,
): Promise<string | undefined> {
  try {
    const res = await fetch(`${base.replace(/\/$/, '')}/task`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return undefined;
    const task = (await res.json()) as { TaskARN?: string; AvailabilityZone?: string };
    return regionOfTask(task.TaskARN, task.AvailabilityZone);
  } catch {
    return undefined;
  }
}

/** A task's region: the fourth field of its ARN, else its availability zone without the letter. */
function regionOfTask(
  taskArn: string | undefined,
  availabilityZone: string | undefined,
): string | undefined {
  const fromArn = taskArn?.split(':')[3];
  if (fromArn) return fromArn;
  const fromZone = availabilityZone?.replace(/[a-z]$/, '');
  return fromZone === '' ? undefined : fromZone;
}

/**
 * The SDK's per-command log line (command, status, attempts, retry delay, error name) at debug
 * level, failures included: the caller explains and logs a failure itself (`explainS3Error`).
 * Inputs and outputs are dropped: an UploadPart input holds the part's bytes. SDK warnings
 * (such as "socket usage at capacity") stay warnings.
 */
function sdkLogger(log: Logger) {
  const entry =
    (level: 'debug' | 'warn') =>
    (...args: unknown[]) => {
      const first = args[0] as
        | { commandName?: string; metadata?: Record<string, unknown>; error?: { name?: string } }
        | undefined;
      if (first && typeof first === 'object') {
        log[level](
          { sdk: first.commandName, metadata: first.metadata, error: first.error?.name },
          'aws sdk request',
        );
      } else {
        log[level]({ sdk: String(first).slice(0, 200) }, 'aws sdk message');
      }
    };
  const debug = entry('debug');
  // The SDK calls `logger.info?.(…)` after every request with its input and output passed through
  // the sensitive-field filter: that filtering costs measurable CPU per request even when pino
  // would drop the line, so below debug level there is no `info` at all and the SDK skips it.
  // (The SDK's Logger type says `info` is required; its middleware calls it optionally.)
  const info = (log.isLevelEnabled('debug') ? debug : undefined) as typeof debug;
  return { trace: () => {}, debug, info, warn: entry('warn'), error: debug };
}

function retryModeOf(value: string | undefined): 'standard' | 'adaptive' {
  if (value === undefined || value === '' || value === 'standard' || value === 'legacy') {
    // v3 of the SDK has no legacy mode; standard is its closest successor.
    return 'standard';
  }
  if (value === 'adaptive') return 'adaptive';
  throw new ConfigError([
    {
      path: 'AWS_RETRY_MODE',
      message: `must be standard or adaptive, got ${JSON.stringify(value)}`,
    },
  ]);
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 20) {
    throw new ConfigError([
      { path: name, message: `must be an integer from 1 to 20, got ${JSON.stringify(raw)}` },
    ]);
  }
  return n;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function credentialsError(err: unknown): S3WorkerError {
  return new S3WorkerError(`could not resolve AWS credentials: ${(err as Error)?.message ?? err}`, {
    code: 'NO_CREDENTIALS',
    exitCode: ExitCode.NoCredentials,
    cause: err,
    hint: 'on ECS give the task a taskRoleArn; locally pass -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY',
  });
}
