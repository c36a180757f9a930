import type {
  CreateServiceCommandInput,
  RegisterTaskDefinitionCommandInput,
} from '@aws-sdk/client-ecs';
import type { PutBucketNotificationConfigurationCommandInput } from '@aws-sdk/client-s3';
import type { CreateQueueCommandInput } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import notification from '../../deploy/stream-transform-queue/bucket-notification.json' with {
  type: 'json',
};
import config from '../../deploy/stream-transform-queue/config.json' with { type: 'json' };
import deadLetterQueue from '../../deploy/stream-transform-queue/dead-letter-queue.json' with {
  type: 'json',
};
import queue from '../../deploy/stream-transform-queue/queue.json' with { type: 'json' };
import queuePolicy from '../../deploy/stream-transform-queue/queue-policy.json' with {
  type: 'json',
};
import scalingPolicy from '../../deploy/stream-transform-queue/scaling-policy.json' with {
  type: 'json',
};
import scalingTarget from '../../deploy/stream-transform-queue/scaling-target.json' with {
  type: 'json',
};
import service from '../../deploy/stream-transform-queue/service.json' with { type: 'json' };
import taskDefinition from '../../deploy/stream-transform-queue/task-definition.json' with {
  type: 'json',
};
import { resolveConfig } from '../../src/config/resolve-config.js';
import { runtimeOptionsSchema } from '../../src/config/runtime-options.js';
import { parseS3Url } from '../../src/config/s3-location.js';
import { parseQueueUrl, type QueueAddress } from '../../src/jobs/kit/queue/queue-url.js';
import { ObjectTransformJob } from '../../src/jobs/stream-transform/object-transform-job.js';

/** `never` at every key of A that S does not have, at any depth: a misspelt field fails tsc. */
type Exact<A, S> = A extends readonly (infer U)[]
  ? S extends readonly (infer V)[]
    ? Exact<U, V>[]
    : never
  : A extends object
    ? { [K in keyof A]: K extends keyof S ? Exact<A[K], NonNullable<S[K]>> : never }
    : A;

// Checked by tsc: each file has the field names of the AWS API it is given to.
const typed = {
  queue: queue satisfies Exact<typeof queue, CreateQueueCommandInput>,
  deadLetterQueue: deadLetterQueue satisfies Exact<typeof deadLetterQueue, CreateQueueCommandInput>,
  notification: notification satisfies Exact<
    typeof notification,
    NonNullable<PutBucketNotificationConfigurationCommandInput['NotificationConfiguration']>
  >,
  service: service satisfies Exact<typeof service, CreateServiceCommandInput>,
  taskDefinition: taskDefinition satisfies Exact<
    typeof taskDefinition,
    RegisterTaskDefinitionCommandInput
  >,
};

const queueAddress = parseQueueUrl(config.queue) as QueueAddress;
const input = parseS3Url(config.input, 'input');
/** The queue ARN as the placeholder files write it. */
const arnOf = (name: string) => `arn:aws:sqs:<REGION>:<ACCOUNT_ID>:${name}`;
const container = taskDefinition.containerDefinitions[0]!;
const env = Object.fromEntries(container.environment.map((e) => [e.name, e.value]));

describe('deploy/stream-transform-queue/', () => {
  it('names one queue everywhere: config, queue, notification, policies, scaling metric', () => {
    expect(typed.queue.QueueName).toBe(queueAddress.name);
    expect(notification.QueueConfigurations[0]?.QueueArn).toBe(arnOf(queue.QueueName));
    expect(queuePolicy.Statement.map((s) => s.Resource)).toEqual([
      arnOf(queue.QueueName),
      arnOf(queue.QueueName),
    ]);
    const visible =
      scalingPolicy.TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification
        .Metrics[0]?.MetricStat?.Metric;
    expect(visible?.Dimensions).toEqual([{ Name: 'QueueName', Value: queue.QueueName }]);
    expect(env.S3WORKER_QUEUE).toBe(config.queue);
  });

  it('creates the queue with a dead-letter queue, long polling, the queue policy and a visibility timeout above the drain', () => {
    const redrive = JSON.parse(queue.Attributes.RedrivePolicy) as Record<string, unknown>;
    expect(redrive).toEqual({
      deadLetterTargetArn: arnOf(typed.deadLetterQueue.QueueName),
      maxReceiveCount: expect.any(Number),
    });
    expect(redrive.maxReceiveCount).toBeGreaterThanOrEqual(2);
    expect(queue.Attributes.ReceiveMessageWaitTimeSeconds).toBe('20');
    expect(JSON.parse(queue.Attributes.Policy)).toEqual(queuePolicy);
    const visibility = Number(queue.Attributes.VisibilityTimeout);
    expect(visibility).toBeLessThanOrEqual(43_200);
    expect(visibility).toBeGreaterThan(Number.parseInt(config.drainTimeout, 10));
    // The DLQ keeps messages longer than the queue, so a poison message outlives its copy.
    expect(Number(deadLetterQueue.Attributes.MessageRetentionPeriod)).toBeGreaterThan(
      Number(queue.Attributes.MessageRetentionPeriod),
    );
  });

  it('lets only the input bucket of this account send to the queue, over TLS only', () => {
    const [allow, deny] = queuePolicy.Statement;
    expect(allow).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 's3.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Condition: {
        ArnEquals: { 'aws:SourceArn': `arn:aws:s3:::${input.bucket}` },
        StringEquals: { 'aws:SourceAccount': '<ACCOUNT_ID>' },
      },
    });
    expect(deny).toMatchObject({
      Effect: 'Deny',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
  });

  it('notifies ObjectCreated events under the input prefix only', () => {
    const [q] = typed.notification.QueueConfigurations;
    expect(q?.Events).toEqual(['s3:ObjectCreated:*']);
    expect(q?.Filter.Key.FilterRules).toEqual([{ Name: 'prefix', Value: input.prefix }]);
  });

  it('runs the task definition of config.json as an ECS service on Fargate (and Spot: SIGTERM hands messages back)', () => {
    expect(typed.service.taskDefinition).toBe(taskDefinition.family);
    expect(service.capacityProviderStrategy.map((c) => c.capacityProvider).sort()).toEqual([
      'FARGATE',
      'FARGATE_SPOT',
    ]);
    expect(container.stopTimeout).toBe(120);
    expect(Number.parseInt(env.S3WORKER_DRAIN_TIMEOUT ?? '', 10)).toBeLessThan(120);
    const schemas = { runtime: runtimeOptionsSchema, job: ObjectTransformJob.configSchema };
    const fromEnv = resolveConfig(schemas, { flags: {}, env });
    const fromFile = resolveConfig(schemas, {
      flags: {},
      env: {},
      file: { values: config, name: 'config.json' },
    });
    // The committed policy.json is generated from config.json: the task must run that config.
    expect(fromEnv.config.job).toEqual(fromFile.config.job);
    expect(fromEnv.config.job.queue).toBe(config.queue);
    expect({ ...fromEnv.config.runtime }).toEqual({ ...fromFile.config.runtime });
  });

  it('scales the service on messages waiting per running task (target tracking, metric math)', () => {
    const resource = `service/${service.cluster}/${service.serviceName}`;
    expect(scalingTarget).toMatchObject({
      ServiceNamespace: 'ecs',
      ResourceId: resource,
      ScalableDimension: 'ecs:service:DesiredCount',
    });
    // Metric math divides by the running tasks: at least one must run.
    expect(scalingTarget.MinCapacity).toBeGreaterThanOrEqual(1);
    expect(scalingTarget.MaxCapacity).toBeGreaterThan(scalingTarget.MinCapacity);
    expect(scalingPolicy).toMatchObject({
      ServiceNamespace: 'ecs',
      ResourceId: resource,
      ScalableDimension: 'ecs:service:DesiredCount',
      PolicyType: 'TargetTrackingScaling',
    });
    const { Metrics } =
      scalingPolicy.TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification;
    const returned = Metrics.filter((m) => m.ReturnData);
    expect(returned).toHaveLength(1);
    const ids = Metrics.filter((m) => m.MetricStat).map((m) => m.Id);
    expect(returned[0]?.Expression).toBe(`${ids[0]} / ${ids[1]}`);
    const tasks = Metrics.find((m) => m.Id === ids[1])?.MetricStat?.Metric;
    expect(tasks?.Dimensions).toEqual([
      { Name: 'ClusterName', Value: service.cluster },
      { Name: 'ServiceName', Value: service.serviceName },
    ]);
    expect(scalingPolicy.TargetTrackingScalingPolicyConfiguration.TargetValue).toBeGreaterThan(0);
  });
});
