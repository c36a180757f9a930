/**
 * Where the run is: the ECS task and container, read once at start from the task metadata
 * endpoint (`ECS_CONTAINER_METADATA_URI_V4`). Outside ECS, or when the endpoint does not
 * answer in time, only `hostname` is set and `ecs` is false.
 */
export interface TaskMetadata {
  /** True when the values came from the ECS task metadata endpoint. */
  ecs: boolean;
  /** The host name (on ECS with awsvpc, the task's own). */
  hostname: string;
  /** Cluster name: the last part of the cluster ARN. */
  cluster?: string;
  /** The cluster as the endpoint gives it (an ARN on Fargate). */
  clusterArn?: string;
  taskArn?: string;
  /** The last part of the task ARN. */
  taskId?: string;
  /** Task definition family. */
  family?: string;
  /** Task definition revision. */
  revision?: string;
  /** This container's name in the task definition. */
  container?: string;
  availabilityZone?: string;
  /** `FARGATE`, `EC2` or `EXTERNAL`. */
  launchType?: string;
}
