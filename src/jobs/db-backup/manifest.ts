import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CODECS } from '../kit/compression.js';
import { ENGINES } from './connection-options.js';

/** Suffix of a manifest key: the backup's key plus this. */
export const MANIFEST_SUFFIX = '.manifest.json';

/** The manifest format; a reader refuses others. */
export const MANIFEST_FORMAT = 's3worker-db-backup/1';

/**
 * The manifest written beside each backup once the dump tool exited 0 and the upload
 * completed: a backup without one is not a backup (restore and retention ignore it).
 */
export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  engine: z.enum(ENGINES),
  /** The database dumped; for `kind: globals`, the database connected to. */
  database: z.string(),
  kind: z.enum(['database', 'globals']),
  /** `custom` (pg_restore archive) or `plain` (SQL). */
  dumpFormat: z.enum(['custom', 'plain']),
  bucket: z.string(),
  key: z.string(),
  serverVersion: z.string(),
  serverMajor: z.number(),
  dumpTool: z.string(),
  dumpToolVersion: z.string(),
  dumpToolMajor: z.number(),
  startedAt: z.string(),
  finishedAt: z.string(),
  /** Bytes the dump tool wrote. */
  rawBytes: z.number(),
  /** Bytes of the stored object (compressed, encrypted). */
  storedBytes: z.number(),
  /** SHA-256 (hex) of the stored object's bytes. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  compression: z.enum(CODECS),
  encryption: z.union([
    z.object({ type: z.literal('age'), recipients: z.array(z.string()) }),
    z.null(),
  ]),
  etag: z.string(),
  versionId: z.string().optional(),
  s3workerVersion: z.string(),
  runId: z.string(),
});

/** A parsed manifest. */
export type Manifest = z.infer<typeof manifestSchema>;

/** The manifest key of the backup at `key`. */
export function manifestKeyOf(key: string): string {
  return `${key}${MANIFEST_SUFFIX}`;
}

/** The backup key a manifest key belongs to, or undefined when `key` is not a manifest's. */
export function backupKeyOf(manifestKey: string): string | undefined {
  return manifestKey.endsWith(MANIFEST_SUFFIX)
    ? manifestKey.slice(0, -MANIFEST_SUFFIX.length)
    : undefined;
}

/** Parses a manifest's bytes; undefined (with the reason) when it is not one of ours. */
export function parseManifest(
  body: Buffer | string,
): { manifest: Manifest; problem?: undefined } | { manifest?: undefined; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(body.toString());
  } catch {
    return { problem: 'not JSON' };
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    return {
      problem: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    };
  }
  return { manifest: parsed.data };
}

let version: string | undefined;

/** This package's version, recorded in manifests. */
export function s3workerVersion(): string {
  version ??= (
    JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    }
  ).version;
  return version;
}
