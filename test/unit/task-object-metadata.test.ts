import { describe, expect, it } from 'vitest';
import { taskObjectMetadata } from '../../src/jobs/kit/task-object-metadata.js';

const TASK_ARN =
  'arn:aws:ecs:us-east-1:123456789012:task/MyEmptyCluster/bfa2636268144d039771334145e490c5';

/** Bytes S3 counts against its 2 KB user-metadata limit: names and values. */
const metadataBytes = (m: Record<string, string>) =>
  Object.entries(m).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);

describe('taskObjectMetadata', () => {
  it('names the task ARN and family:revision of an ECS task', () => {
    expect(
      taskObjectMetadata({
        ecs: true,
        hostname: 'ip-172-31-42-189.ec2.internal',
        taskArn: TASK_ARN,
        family: 'sample-fargate',
        revision: '5',
      }),
    ).toEqual({
      's3worker-ecs-task-arn': TASK_ARN,
      's3worker-ecs-task-definition': 'sample-fargate:5',
    });
  });

  it('records nothing outside ECS, and no task definition it does not know whole', () => {
    expect(taskObjectMetadata({ ecs: false, hostname: 'laptop' })).toEqual({});
    expect(
      taskObjectMetadata({ ecs: true, hostname: 'h', taskArn: TASK_ARN, family: 'f' }),
    ).toEqual({ 's3worker-ecs-task-arn': TASK_ARN });
  });

  it('stays under 700 bytes with the longest cluster and family names ECS allows', () => {
    const longest = 'a'.repeat(255);
    const m = taskObjectMetadata({
      ecs: true,
      hostname: 'h',
      taskArn: `arn:aws-us-gov:ecs:us-gov-west-1:123456789012:task/${longest}/${'f'.repeat(32)}`,
      family: longest,
      revision: '1000000',
    });
    expect(Object.keys(m)).toHaveLength(2);
    expect(metadataBytes(m)).toBeLessThan(700);
  });
});
