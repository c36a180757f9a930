import { hostname } from 'node:os';
import type { Logger } from 'pino';

/** The placeholders a ship-logs key template may use. */
export const KEY_FIELDS = [
  'yyyy',
  'MM',
  'dd',
  'HH',
  'mm',
  'hostname',
  'cluster',
  'family',
  'taskId',
  'seq',
  'ext',
] as const;

/** What the task metadata endpoint says about the task this shipper runs in. */
export interface TaskMetadata {
  hostname: string;
  /** Cluster name (the last part of the cluster ARN); `none` outside ECS. */
  cluster: string;
  /** Task definition family; `none` outside ECS. */
  family: string;
  /** Task id (the last part of the task ARN); the host name outside ECS. */
  taskId: string;
  /** True when the values came from the ECS task metadata endpoint. */
  ecs: boolean;
}

const METADATA_TIMEOUT_MS = 2_000;
const METADATA_ATTEMPTS = 3;

/**
 * The task's identity for keys and records: from `ECS_CONTAINER_METADATA_URI_V4`/task when the
 * variable is set (three attempts of 2 s each; the agent answers within milliseconds), else the
 * host name. An endpoint that never answers is logged and falls back to the host name rather
 * than stopping the shipper: logs must keep flowing.
 */
export async function resolveTaskMetadata(
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
  signal?: AbortSignal,
): Promise<TaskMetadata> {
  const host = hostname();
  const local: TaskMetadata = {
    hostname: host,
    cluster: 'none',
    family: 'none',
    taskId: host,
    ecs: false,
  };
  const base = env.ECS_CONTAINER_METADATA_URI_V4;
  if (base === undefined || base === '') return local;
  let lastError: unknown;
  for (let attempt = 1; attempt <= METADATA_ATTEMPTS; attempt++) {
    try {
      const timeout = AbortSignal.timeout(METADATA_TIMEOUT_MS);
      const response = await fetch(`${base.replace(/\/$/, '')}/task`, {
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const task = (await response.json()) as {
        Cluster?: string;
        Family?: string;
        TaskARN?: string;
      };
      return {
        hostname: host,
        cluster: lastArnPart(task.Cluster) ?? 'none',
        family: task.Family ?? 'none',
        taskId: lastArnPart(task.TaskARN) ?? host,
        ecs: true,
      };
    } catch (err) {
      if (signal?.aborted) throw err;
      lastError = err;
    }
  }
  log.warn(
    { err: lastError, attempts: METADATA_ATTEMPTS },
    'task metadata endpoint did not answer; keys use the host name',
  );
  return local;
}

/** `arn:aws:ecs:eu-west-1:123:task/cluster/abc` → `abc`; a plain name stays as it is. */
function lastArnPart(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  return value.slice(value.lastIndexOf('/') + 1);
}

/** Digits of `{seq}`: keys of one task sort in batch order up to 10^10 batches. */
const SEQ_DIGITS = 10;

/** The values of every key placeholder for one batch. */
export function keyFields(
  task: TaskMetadata,
  batch: { seq: number; openedAt: Date; ext: string },
): Record<(typeof KEY_FIELDS)[number], string> {
  const t = batch.openedAt;
  const two = (n: number) => String(n).padStart(2, '0');
  return {
    yyyy: String(t.getUTCFullYear()),
    MM: two(t.getUTCMonth() + 1),
    dd: two(t.getUTCDate()),
    HH: two(t.getUTCHours()),
    mm: two(t.getUTCMinutes()),
    hostname: task.hostname,
    cluster: task.cluster,
    family: task.family,
    taskId: task.taskId,
    seq: String(batch.seq).padStart(SEQ_DIGITS, '0'),
    ext: batch.ext,
  };
}
