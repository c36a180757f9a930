import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Name of the status file in the run's tmp dir (see `resolveTmpDir`). */
export const STATUS_FILE_NAME = 's3worker-status.json';

export type RunState = 'running' | 'done' | 'failed' | 'interrupted';

/** What a run writes about itself, for `s3worker healthcheck` and for people. */
export interface RunStatus {
  pid: number;
  job: string;
  runId: string;
  state: RunState;
  /** ISO timestamps. */
  startedAt: string;
  updatedAt: string;
  /** Last time a progress tick was taken; a stale one means the run is stuck. */
  lastProgressAt: string;
  objectsDone: number;
  bytesOut: number;
  /** The process exit code, once the run has ended. */
  exitCode?: number;
}

/** Full path of the status file in `dir`. */
export function statusFilePath(dir: string): string {
  return join(dir, STATUS_FILE_NAME);
}

/**
 * Writes the status file atomically (a temp file in the same folder, then rename), so a reader
 * never sees half a file.
 */
export async function writeStatus(dir: string, status: RunStatus): Promise<void> {
  const path = statusFilePath(dir);
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temp, `${JSON.stringify(status)}\n`, { mode: 0o644 });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** The status file in `dir`, or undefined when there is none (or it is unreadable JSON). */
export async function readStatus(dir: string): Promise<RunStatus | undefined> {
  let text: string;
  try {
    text = await readFile(statusFilePath(dir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as RunStatus;
  } catch {
    return undefined;
  }
}
