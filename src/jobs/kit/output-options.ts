import { z } from 'zod';
import type { ConfigIssue } from '../../errors.js';
import type { ObjectWriteOptions, SseOption } from '../../transfer/object-write-options.js';
import type { Permission } from '../permissions.js';

/** S3 storage classes an output may be written with. */
export const STORAGE_CLASSES = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'DEEP_ARCHIVE',
  'GLACIER_IR',
  'EXPRESS_ONEZONE',
] as const;

/** Checksums the SDK can compute on upload (and S3 verifies). */
export const CHECKSUM_ALGORITHMS = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const;

/** User-metadata names starting with this are s3worker's own records (source, manifest...). */
export const RESERVED_METADATA_PREFIX = 's3worker-';

/**
 * How a job's outputs are written, as one schema fragment every job that writes objects spreads
 * into its own: `z.object({ ...myFields, ...outputOptionsSchema.shape })`. Flags, env names and
 * `--help` come from it like from any schema.
 */
export const outputOptionsSchema = z.object({
  storageClass: z
    .enum(STORAGE_CLASSES)
    .optional()
    .describe('Storage class of outputs. Default: the bucket default (STANDARD).'),
  sse: z
    .enum(['AES256', 'aws:kms'])
    .optional()
    .describe('Server-side encryption of outputs: AES256 or aws:kms. Default: the bucket default.'),
  sseKmsKeyId: z
    .string()
    .min(1)
    .optional()
    .describe(
      "KMS key id, key ARN or alias when --sse aws:kms. Default: the account's aws/s3 key.",
    ),
  metadata: z
    .record(
      z.string().regex(/^[A-Za-z0-9-_.]+$/, 'metadata names are letters, digits, -, _ and .'),
      z.string(),
    )
    .default({})
    .refine(
      (m) => !Object.keys(m).some((k) => k.toLowerCase().startsWith(RESERVED_METADATA_PREFIX)),
      {
        message: `metadata names starting with ${RESERVED_METADATA_PREFIX} are reserved (s3worker records its own there)`,
      },
    )
    .describe('Extra user metadata on every output (key=value, repeatable). Default: none.'),
  tags: z
    .record(z.string().min(1).max(128), z.string().max(256))
    .default({})
    .refine((t) => Object.keys(t).length <= 10, { message: 'S3 allows at most 10 tags per object' })
    .describe(
      'Tags on every output (key=value, repeatable, at most 10). Needs s3:PutObjectTagging. Default: none.',
    ),
  checksumAlgorithm: z
    .enum(CHECKSUM_ALGORITHMS)
    .optional()
    .describe(
      'Checksum sent with each upload request and verified by S3. Default: CRC32, or none with --checksum-calculation WHEN_REQUIRED.',
    ),
});

/** The parsed output options. */
export type OutputOptions = z.infer<typeof outputOptionsSchema>;

/** Checks across the output options; empty when consistent. */
export function outputOptionProblems(config: OutputOptions): ConfigIssue[] {
  if (config.sseKmsKeyId !== undefined && config.sse !== 'aws:kms') {
    return [{ path: 'sseKmsKeyId', message: 'only applies with sse: aws:kms' }];
  }
  return [];
}

/** The write options (for `ctx.transfer.upload`) these output options ask for. */
export function objectWriteOptions(config: OutputOptions): ObjectWriteOptions {
  return {
    metadata: { ...config.metadata },
    tags: config.tags,
    storageClass: config.storageClass,
    sse: sseOption(config),
    checksumAlgorithm: config.checksumAlgorithm,
  };
}

/**
 * The permissions these options add to a job that writes under `bucket/prefix`: tagging, and the
 * KMS key's use for SSE-KMS with a named key. (Without a key id S3 uses the AWS managed key
 * aws/s3, whose key policy already lets every principal of the account use it through S3: no IAM
 * statement is needed, or wanted.)
 */
export function outputPermissions(
  config: OutputOptions,
  where: { bucket: string; prefix: string },
): Permission[] {
  const perms: Permission[] = [];
  if (Object.keys(config.tags).length > 0) {
    perms.push({ action: 's3:PutObjectTagging', ...where, reason: 'tag outputs' });
  }
  if (config.sse === 'aws:kms' && config.sseKmsKeyId !== undefined) {
    const key = kmsKeyScope(config.sseKmsKeyId);
    perms.push(
      { action: 'kms:GenerateDataKey', ...key, reason: 'encrypt outputs with SSE-KMS' },
      { action: 'kms:Decrypt', ...key, reason: 'complete SSE-KMS multipart uploads' },
    );
  }
  return perms;
}

function sseOption(config: OutputOptions): SseOption | undefined {
  if (config.sse === 'AES256') return { type: 'AES256' };
  if (config.sse === 'aws:kms') {
    return config.sseKmsKeyId === undefined
      ? { type: 'aws:kms' }
      : { type: 'aws:kms', keyId: config.sseKmsKeyId };
  }
  return undefined;
}

/**
 * The IAM resource of a KMS key given by key id, key ARN, alias name or alias ARN. IAM matches KMS
 * permissions against the key's ARN, never the alias's, so an alias becomes "any key" narrowed by
 * a `kms:ResourceAliases` condition on that alias.
 */
export function kmsKeyScope(keyId: string): Pick<Permission, 'resource' | 'condition'> {
  const alias = /^(?:arn:[^:]+:kms:([^:]*):([^:]*):)?(alias\/.+)$/.exec(keyId);
  if (alias) {
    const [, region, account, name] = alias;
    return {
      resource: `arn:aws:kms:${region || '*'}:${account || '*'}:key/*`,
      condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [name!] } },
    };
  }
  if (keyId.startsWith('arn:')) return { resource: keyId };
  return { resource: `arn:aws:kms:*:*:key/${keyId}` };
}
