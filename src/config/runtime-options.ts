import { z } from 'zod';
import { awsOptionsSchema } from './aws-options.js';
import { durationSchema } from './duration-schema.js';
import { metricsOptionsSchema } from './metrics-options.js';
import { transferOptionsSchema } from './transfer-options.js';

/** Log levels the runtime accepts, most to least verbose. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * Options every job shares: which job, where its code and config come from, logging, progress
 * and the stop deadline, plus the AWS client options (`awsOptionsSchema`) and the transfer
 * options (`transferOptionsSchema`). Merged with the job's
 * own `configSchema` into one schema per job; flags, `S3WORKER_*` env names and `--help` are
 * derived from the keys.
 */
export const runtimeOptionsSchema = z
  .object({
    job: z
      .string()
      .min(1)
      .optional()
      .describe('job to run (usually the first argument of `run`); see `s3worker jobs`'),
    handler: z
      .string()
      .min(1)
      .optional()
      .describe(
        'path of a JS module exporting a job class, relative to the working directory (or to the config file when set there)',
      ),
    config: z
      .string()
      .min(1)
      .optional()
      .describe('JSON config file: a local path or an s3://bucket/key URL'),
    logLevel: z.enum(LOG_LEVELS).default('info').describe('minimum log level'),
    logFormat: z
      .enum(['auto', 'json', 'pretty'])
      .default('auto')
      .describe('log format on stdout: auto = pretty on a terminal, JSON otherwise'),
    progressInterval: durationSchema
      .refine((ms) => ms >= 100, 'must be at least 100ms')
      .default(10_000)
      .describe(
        'how often a JSON progress line is logged when stderr is not a terminal (at least 100ms)',
      ),
    drainTimeout: durationSchema
      .default(25_000)
      .describe(
        'after SIGTERM/SIGINT, how long in-flight work may finish before it is aborted; keep it below the ECS stopTimeout (30s by default)',
      ),
  })
  .extend(metricsOptionsSchema.shape)
  .extend(describeAwsOptions(awsOptionsSchema).shape)
  .extend(transferOptionsSchema.shape);

export type RuntimeOptions = z.infer<typeof runtimeOptionsSchema>;

/** Keys of the runtime schema, to split a merged config back into runtime and job parts. */
export const RUNTIME_OPTION_KEYS: ReadonlySet<string> = new Set(
  Object.keys(runtimeOptionsSchema.shape),
);

/** `--help` text for the AWS options: their JSDoc lives in aws-options.ts, not in zod. */
function describeAwsOptions(schema: typeof awsOptionsSchema) {
  const text: Record<keyof typeof schema.shape, string> = {
    region: 'AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the ECS task metadata)',
    endpoint:
      'S3 endpoint URL for S3-compatible stores such as MinIO (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)',
    forcePathStyle: 'path-style addressing (endpoint/bucket/key); on by default with --endpoint',
    credentials: 'credential source: auto (the SDK chain), container (ECS task role), env, profile',
    profile: 'shared-config profile (default: AWS_PROFILE)',
    maxAttempts: 'attempts per S3 request including the first (default: AWS_MAX_ATTEMPTS or 3)',
    retryMode: 'SDK retry mode (default: AWS_RETRY_MODE or standard)',
    checksumCalculation:
      'when to add request checksums; WHEN_REQUIRED for stores that reject the SDK default',
    checksumValidation: 'when to validate response checksums',
    payloadSigning:
      "what the signature of an upload request covers: signed = the body's SHA-256, unsigned = UNSIGNED-PAYLOAD (the body is still covered by its signed CRC32 checksum; saves hashing every byte, here and on the server), auto = unsigned on https and on loopback http, signed on other http (default: auto)",
    socketTimeout:
      'a connection to S3 that moves no byte in either direction for this long is dropped and the request retried (a body resumes where it stopped), so a stalled connection is found in seconds (default: 30s)',
    directRequests:
      "send the GET and PUT of objects smaller than one part, and the ranged GETs and UploadParts of larger ones, without the SDK middleware, signed by its signer and sent by its HTTP handler (about 3x less CPU per small object); 5xx, 429 and network errors are retried direct under the client's retry strategy (attempts, backoff, adaptive rate limit), other error answers go through the SDK, which explains them (default: on)",
  };
  return z.object(
    Object.fromEntries(
      Object.entries(schema.shape).map(([k, v]) => [k, v.describe(text[k as keyof typeof text])]),
    ) as typeof schema.shape,
  );
}
