import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import type { S3Server } from '../../support/servers.js';
import { containerEngine, type EngineEnv } from './container-engine.js';

/** The image's user (Dockerfile `USER 10001:10001`). */
export const IMAGE_UID = 10001;

/** The image's scratch volume (`VOLUME`, `S3WORKER_TMPDIR`). */
export const SCRATCH = '/tmp/s3worker';

/**
 * What a user's `docker run -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e AWS_REGION` passes:
 * the values go in the engine's environment (`env`), the container gets them by name only
 * (`flags`), so no key is ever in argv.
 */
export function keysFromEnvironment(s3: S3Server): { env: EngineEnv; flags: string[] } {
  return {
    env: {
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_REGION: s3.region,
    },
    flags: passByName(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']),
  };
}

/** `-e NAME` for each name: the engine copies the value from its own environment. */
export function passByName(names: readonly string[]): string[] {
  return names.flatMap((name) => ['-e', name]);
}

/**
 * A host folder for the scratch volume (`-v <dir>:/tmp/s3worker`), owned by the image's user
 * with mode 0700 as the image's own folder is; removed when the test finishes.
 */
export function scratchFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 's3worker-image-scratch-'));
  chownSync(dir, IMAGE_UID, IMAGE_UID);
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * `--read-only` as docker means it: the root filesystem read-only and nothing else writable.
 * Podman adds tmpfs mounts on /tmp, /var/tmp and /run to a read-only container unless told not
 * to, which would hide a write outside the scratch volume.
 */
export function readOnlyRoot(): string[] {
  return containerEngine().name === 'podman'
    ? ['--read-only', '--read-only-tmpfs=false']
    : ['--read-only'];
}

/** The JSON log lines of a container's output (other lines left out). */
export function logLines(output: string): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // A line cut by the engine's own output: not a log line.
    }
  }
  return lines;
}

/** The first log line with this `msg`, or undefined. */
export function logLine(output: string, msg: string): Record<string, unknown> | undefined {
  return logLines(output).find((l) => l.msg === msg);
}

/** The `summary` line every run ends with. */
export interface RunSummary {
  objects: { done: number; skipped: number; failed: number };
  exitCode: number;
  interrupted?: boolean;
}

/** The run's `summary` log line; throws with the output's tail when there is none. */
export function summaryOf(output: string): RunSummary {
  const line = logLine(output, 'summary');
  if (!line)
    throw new Error(`no summary log line in the container's output:\n${output.slice(-3000)}`);
  return line as unknown as RunSummary;
}

/**
 * `run stream-transform` from `input` to `output` (s3:// URLs) with the gzip transform, then
 * `extra` flags.
 */
export function gzipArgs(input: string, output: string, extra: readonly string[] = []): string[] {
  return [
    'run',
    'stream-transform',
    '--input',
    input,
    '--output',
    output,
    '--transform',
    'gzip',
    ...extra,
  ];
}

/**
 * Flags that put a test-sized object through the large-object paths: 5 MiB parts (the least S3
 * takes), and ranged downloads from 8 MiB.
 */
export const SMALL_PARTS = [
  '--part-size',
  '5MiB',
  '--range-threshold',
  '8MiB',
  '--range-size',
  '5MiB',
] as const;
