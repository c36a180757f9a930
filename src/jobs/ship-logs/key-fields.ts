import type { TaskMetadata } from '../task-metadata.js';

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

/**
 * The run's task (`ctx.task`) as keys and records see it: outside ECS (or when the metadata
 * endpoint did not answer) `cluster` and `family` are `none` and `taskId` is the host name.
 */
export interface ShipperTask extends TaskMetadata {
  /** Cluster name (the last part of the cluster ARN); `none` outside ECS. */
  cluster: string;
  /** Task definition family; `none` outside ECS. */
  family: string;
  /** Task id (the last part of the task ARN); the host name outside ECS. */
  taskId: string;
}

/** `task` with the values keys and records use where ECS gave none. */
export function shipperTask(task: TaskMetadata): ShipperTask {
  return {
    ...task,
    cluster: task.cluster ?? 'none',
    family: task.family ?? 'none',
    taskId: task.taskId ?? task.hostname,
  };
}

/** Digits of `{seq}`: keys of one task sort in batch order up to 10^10 batches. */
const SEQ_DIGITS = 10;

/** The values of every key placeholder for one batch. */
export function keyFields(
  task: ShipperTask,
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
