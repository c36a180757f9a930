import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CODECS } from '../kit/compression.js';
import type { TaskMetadata } from '../task-metadata.js';
import { ENGINES } from './connection-options.js';

/** Suffix of a manifest key: the backup's key plus this. */
export const MANIFEST_SUFFIX = '.manifest.json';

/** The manifest format; a reader refuses others. */
export const MANIFEST_FORMAT = 's3worker-db-backup/1';

/**
 * The ECS task a backup was made by (from the task metadata endpoint). Each field is there
 * when the endpoint gave it; the whole object only in manifests written on ECS.
 */
export const manifestTaskSchema = z.object({
  /** Cluster name. */
  cluster: z.string().optional(),
  taskArn: z.string().optional(),
  /** Task definition as `family:revision`. */
  taskDefinition: z.string().optional(),
  /** The container's name in the task definition. */
  container: z.string().optional(),
  availabilityZone: z.string().optional(),
  /** `FARGATE`, `EC2` or `EXTERNAL`. */
  launchType: z.string().optional(),
});

/** The `task` member of a manifest. */
export type ManifestTask = z.infer<typeof manifestTaskSchema>;

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
  /** The ECS task that made it; absent off ECS and in manifests written before it was added. */
  task: manifestTaskSchema.optional(),
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

/** The manifest's `task` for the run's task metadata; undefined off ECS. */
export function manifestTask(task: TaskMetadata): ManifestTask | undefined {
  if (!task.ecs) return undefined;
  const fields: ManifestTask = {
    cluster: task.cluster,
    taskArn: task.taskArn,
    taskDefinition:
      task.family !== undefined && task.revision !== undefined
        ? `${task.family}:${task.revision}`
        : task.family,
    container: task.container,
    availabilityZone: task.availabilityZone,
    launchType: task.launchType,
  };
  return Object.fromEntries(
    Object.entries(fields).filter(([, v]) => v !== undefined),
  ) as ManifestTask;
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
