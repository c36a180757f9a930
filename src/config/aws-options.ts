import { z } from 'zod';
import { durationSchema } from './duration-schema.js';

/**
 * Default of `socketTimeout`: a connection that moves no byte in either direction this long is
 * dropped (and the request retried). S3 sends whitespace while it assembles a large multipart
 * completion, so an idle socket is a stalled one; 30 s catches a stall in seconds rather than at
 * the 5-minute health check.
 */
export const DEFAULT_SOCKET_TIMEOUT_MS = 30_000;

/** Where credentials come from: `auto` is the SDK's default chain. */
export const CREDENTIAL_SOURCES = ['auto', 'container', 'env', 'profile'] as const;
export type CredentialSourceName = (typeof CREDENTIAL_SOURCES)[number];

/** What the SigV4 signature of an upload request covers (see `PayloadSigning` in s3/payload-signing.ts). */
export const PAYLOAD_SIGNING_MODES = ['auto', 'signed', 'unsigned'] as const;

/**
 * Options every job shares for talking to AWS/S3. Each may also come from the SDK's standard
 * environment (AWS_REGION, AWS_ENDPOINT_URL_S3, AWS_MAX_ATTEMPTS, ...), which they override.
 */
export const awsOptionsSchema = z.object({
  /** AWS region; default from AWS_REGION / AWS_DEFAULT_REGION / the ECS task metadata. */
  region: z.string().min(1).optional(),
  /** S3 endpoint URL for S3-compatible stores (MinIO...); default AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL. */
  endpoint: z.url().optional(),
  /** Path-style addressing (`endpoint/bucket/key`); default true when `endpoint` is set. */
  forcePathStyle: z.boolean().optional(),
  /** Force one credential source; default `auto` (the SDK's chain). */
  credentials: z.enum(CREDENTIAL_SOURCES).default('auto'),
  /** Profile name when `credentials` is `profile` (or for `auto`); default AWS_PROFILE. */
  profile: z.string().min(1).optional(),
  /** Attempts per request including the first; default AWS_MAX_ATTEMPTS or 3. */
  maxAttempts: z.int().min(1).max(20).optional(),
  /** SDK retry mode; default AWS_RETRY_MODE or `standard`. */
  retryMode: z.enum(['standard', 'adaptive', 'legacy']).optional(),
  /** When to add request checksums: the SDK's `WHEN_SUPPORTED` breaks some S3-compatible stores. */
  checksumCalculation: z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED']).optional(),
  /** When to validate response checksums. */
  checksumValidation: z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED']).optional(),
  /**
   * GetObject and PutObject of objects smaller than one part, and the ranged GETs and
   * UploadParts of larger ones, skip the SDK's per-request middleware (`DirectRequests`);
   * default true.
   */
  directRequests: z.boolean().optional(),
  /** What the signature of a write covers; default `auto` (unsigned on https and loopback http). */
  payloadSigning: z.enum(PAYLOAD_SIGNING_MODES).optional(),
  /** Idle time after which a connection counts as stalled; default `DEFAULT_SOCKET_TIMEOUT_MS`. */
  socketTimeout: durationSchema.optional(),
});

export type AwsOptions = z.infer<typeof awsOptionsSchema>;
