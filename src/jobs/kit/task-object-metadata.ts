import type { TaskMetadata } from '../task-metadata.js';

/**
 * User-metadata names that name the ECS task which wrote an object (sent as
 * `x-amz-meta-s3worker-ecs-*`), beside the job's own records such as `s3worker-source-*`.
 */
export const TASK_OBJECT_METADATA = {
  /** The task's full ARN: region, account, cluster and task id in one value. */
  taskArn: 's3worker-ecs-task-arn',
  /** `family:revision` of the task definition: which image and settings wrote the object. */
  taskDefinition: 's3worker-ecs-task-definition',
} as const;

/**
 * The user metadata that objects written by a job on ECS carry to name the task that wrote them:
 * `s3worker-ecs-task-arn` (the task ARN) and `s3worker-ecs-task-definition` (`family:revision`,
 * when the endpoint gave both). Outside ECS — or when the task metadata could not be read — an
 * empty object: nothing is recorded rather than a host name that means nothing later.
 *
 * Size: S3 allows 2 KB of user metadata per object, names and values together. These two
 * entries take about 150 bytes for a typical task (a 100-character ARN, a short family); the
 * worst case allowed by ECS's own limits (255-character cluster and family names) is about
 * 650 bytes, which still leaves the job's records and the user's own metadata their room.
 * Values are ASCII (ARNs and family names allow nothing else), as S3 metadata requires.
 */
export function taskObjectMetadata(task: TaskMetadata): Record<string, string> {
  if (!task.ecs || task.taskArn === undefined) return {};
  const metadata: Record<string, string> = { [TASK_OBJECT_METADATA.taskArn]: task.taskArn };
  if (task.family !== undefined && task.revision !== undefined) {
    metadata[TASK_OBJECT_METADATA.taskDefinition] = `${task.family}:${task.revision}`;
  }
  return metadata;
}
