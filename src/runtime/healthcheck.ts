import { formatDuration } from '../config/duration-schema.js';
import { readStatus, statusFilePath } from './status-file.js';

/** Default of `--max-age` / `S3WORKER_HEALTHCHECK_MAX_AGE`: 5 minutes without progress. */
export const DEFAULT_HEALTHCHECK_MAX_AGE_MS = 5 * 60_000;

/** Options of {@link checkHealth}. */
export interface HealthcheckOptions {
  /** The run's scratch folder, where the runtime writes its status file. */
  dir: string;
  /**
   * How long the worker may go without a progress tick before it counts as stuck. Default 5
   * minutes: keep it well above the progress interval (10 s) and the health check interval.
   */
  maxAgeMs?: number;
  /** Current time; tests pass their own. Default `Date.now()`. */
  now?: number;
  /** Whether a process id is alive; tests pass their own. Default: signal 0 to the pid. */
  isAlive?: (pid: number) => boolean;
}

/** The verdict and a one-line reason (docker and ECS keep the health check's output). */
export interface HealthVerdict {
  healthy: boolean;
  reason: string;
}

/**
 * Whether the worker in this container is alive and moving: its status file says `running` with
 * a progress tick within `maxAgeMs` and its process exists, or `done`. Anything else — no
 * status file yet, a run that failed or was interrupted, a stale tick, a dead pid — is
 * unhealthy, so ECS replaces a stuck task (within the health check's start period a missing
 * file does not count against it).
 */
export async function checkHealth(options: HealthcheckOptions): Promise<HealthVerdict> {
  const maxAge = options.maxAgeMs ?? DEFAULT_HEALTHCHECK_MAX_AGE_MS;
  const now = options.now ?? Date.now();
  const isAlive = options.isAlive ?? pidIsAlive;
  const status = await readStatus(options.dir);
  if (!status) {
    return {
      healthy: false,
      reason: `no status file at ${statusFilePath(options.dir)}: the worker has not started, or S3WORKER_TMPDIR differs from the worker's`,
    };
  }
  const who = `${status.job} run ${status.runId} (pid ${status.pid})`;
  if (status.state === 'done') return { healthy: true, reason: `${who} is done` };
  if (status.state !== 'running') {
    return { healthy: false, reason: `${who} ended: ${status.state}` };
  }
  if (!isAlive(status.pid)) {
    return { healthy: false, reason: `${who} says running but its process is gone` };
  }
  const last = Date.parse(status.lastProgressAt);
  if (Number.isNaN(last)) {
    return { healthy: false, reason: `${who} has no valid lastProgressAt in its status file` };
  }
  // A tick from the future (clock stepped back) counts as fresh rather than failing the task.
  const age = Math.max(0, now - last);
  if (age > maxAge) {
    return {
      healthy: false,
      reason: `${who} has made no progress for ${formatDuration(Math.round(age / 1000) * 1000)} (limit ${formatDuration(maxAge)})`,
    };
  }
  return {
    healthy: true,
    reason: `${who} is running: ${status.objectsDone} objects, ${status.bytesOut} bytes out, last progress ${Math.round(age / 1000)}s ago`,
  };
}

function pidIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user — still alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
