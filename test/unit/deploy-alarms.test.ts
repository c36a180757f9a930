import { readdirSync, readFileSync } from 'node:fs';
import {
  ComparisonOperator,
  type PutMetricAlarmCommandInput,
  StandardUnit,
  Statistic,
} from '@aws-sdk/client-cloudwatch';
import type { PutRuleCommandInput, PutTargetsCommandInput } from '@aws-sdk/client-eventbridge';
import type { CreateTopicCommandInput } from '@aws-sdk/client-sns';
import { describe, expect, expectTypeOf, it } from 'vitest';
import topic from '../../deploy/alarm-topic.json' with { type: 'json' };
import topicPolicy from '../../deploy/alarm-topic-policy.json' with { type: 'json' };
import noGoodBackup from '../../deploy/db-backup/alarm-no-good-backup.json' with { type: 'json' };
import schedule from '../../deploy/db-backup/schedule.json' with { type: 'json' };
import linesDropped from '../../deploy/ship-logs/alarm-lines-dropped.json' with { type: 'json' };
import unshippedLines from '../../deploy/ship-logs/alarm-unshipped-lines.json' with {
  type: 'json',
};
import runFailed from '../../deploy/stream-transform/alarm-run-failed.json' with { type: 'json' };
import deadLetterQueueAlarm from '../../deploy/stream-transform-queue/alarm-dead-letter-queue.json' with {
  type: 'json',
};
import oldestMessage from '../../deploy/stream-transform-queue/alarm-oldest-message.json' with {
  type: 'json',
};
import deadLetterQueue from '../../deploy/stream-transform-queue/dead-letter-queue.json' with {
  type: 'json',
};
import queue from '../../deploy/stream-transform-queue/queue.json' with { type: 'json' };
import pattern from '../../deploy/task-stopped-pattern.json' with { type: 'json' };
import rule from '../../deploy/task-stopped-rule.json' with { type: 'json' };
import targets from '../../deploy/task-stopped-targets.json' with { type: 'json' };
import { METRICS } from '../../src/jobs/job-metrics.js';
import { BUILTIN_JOBS } from '../../src/jobs/registry.js';
import { matchesEventPattern } from '../support/event-pattern.js';
import type { Exact, Json } from '../support/sdk-input.js';

type Alarm = PutMetricAlarmCommandInput;

// Checked by tsc (npm run typecheck): each file has the field names and value types of the API
// call it is given to with --cli-input-json.
const alarms: Record<string, Json<Alarm>> = {
  'deploy/db-backup/alarm-no-good-backup.json': noGoodBackup satisfies Exact<
    typeof noGoodBackup,
    Alarm
  >,
  'deploy/ship-logs/alarm-unshipped-lines.json': unshippedLines satisfies Exact<
    typeof unshippedLines,
    Alarm
  >,
  'deploy/ship-logs/alarm-lines-dropped.json': linesDropped satisfies Exact<
    typeof linesDropped,
    Alarm
  >,
  'deploy/stream-transform-queue/alarm-dead-letter-queue.json':
    deadLetterQueueAlarm satisfies Exact<typeof deadLetterQueueAlarm, Alarm>,
  'deploy/stream-transform-queue/alarm-oldest-message.json': oldestMessage satisfies Exact<
    typeof oldestMessage,
    Alarm
  >,
  'deploy/stream-transform/alarm-run-failed.json': runFailed satisfies Exact<
    typeof runFailed,
    Alarm
  >,
};
const typedRule: Json<PutRuleCommandInput> & Exact<typeof rule, PutRuleCommandInput> = rule;
const typedTargets: Json<PutTargetsCommandInput> & Exact<typeof targets, PutTargetsCommandInput> =
  targets;
const typedTopic: Json<CreateTopicCommandInput> & Exact<typeof topic, CreateTopicCommandInput> =
  topic;
const misspelt = { ...noGoodBackup, Treshold: 1 };
// @ts-expect-error a field PutMetricAlarm does not know is a type error
const rejected: Exact<typeof misspelt, Alarm> = misspelt;

/** PutMetricAlarm's TreatMissingData: the SDK types it as a string; the API reference lists these. */
const TREAT_MISSING_DATA = ['breaching', 'notBreaching', 'ignore', 'missing'];
const topicArn = `arn:aws:sns:<REGION>:<ACCOUNT_ID>:${topic.Name}`;
const ruleArn = `arn:aws:events:<REGION>:<ACCOUNT_ID>:rule/${rule.Name}`;
const alarmList = Object.entries(alarms);

interface TaskDefinition {
  family: string;
  containerDefinitions: Array<{
    name: string;
    environment?: Array<{ name: string; value: string }>;
  }>;
}
const taskDefinitionOf = (folder: string) =>
  JSON.parse(readFileSync(`deploy/${folder}/task-definition.json`, 'utf8')) as TaskDefinition;
const folders = readdirSync('deploy', { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

describe('deploy/ alarm files', () => {
  it('are typed as PutMetricAlarmCommandInput (tsc), and the test covers every alarm-*.json', () => {
    expectTypeOf(alarms).toEqualTypeOf<Record<string, Json<Alarm>>>();
    expect(rejected.Treshold).toBe(1);
    const onDisk = folders.flatMap((f) =>
      readdirSync(`deploy/${f}`)
        .filter((n) => /^alarm-.*\.json$/.test(n))
        .map((n) => `deploy/${f}/${n}`),
    );
    expect(onDisk.sort()).toEqual(Object.keys(alarms).sort());
  });

  it.each(alarmList)('%s: enum values the SDK holds, a valid period and window', (_file, alarm) => {
    expect(alarm.AlarmName).toMatch(/^s3worker-[\w-]{1,246}$/);
    expect(alarm.AlarmDescription?.length).toBeLessThanOrEqual(1024);
    expect(Object.values(ComparisonOperator)).toContain(alarm.ComparisonOperator);
    expect(Object.values(Statistic)).toContain(alarm.Statistic);
    if (alarm.Unit !== undefined) expect(Object.values(StandardUnit)).toContain(alarm.Unit);
    expect(TREAT_MISSING_DATA).toContain(alarm.TreatMissingData);
    expect(typeof alarm.Threshold).toBe('number');
    const period = alarm.Period ?? 0;
    expect([10, 20, 30].includes(period) || (period > 0 && period % 60 === 0)).toBe(true);
    // Period × EvaluationPeriods: at most 7 days, and 1 day for periods under an hour.
    const window = period * (alarm.EvaluationPeriods ?? 0);
    expect(window).toBeGreaterThan(0);
    expect(window).toBeLessThanOrEqual(period < 3600 ? 86_400 : 604_800);
    expect(alarm.DatapointsToAlarm ?? alarm.EvaluationPeriods).toBeLessThanOrEqual(
      alarm.EvaluationPeriods ?? 0,
    );
  });

  it('have distinct names', () => {
    const names = alarmList.map(([, a]) => a.AlarmName);
    expect(new Set(names).size).toBe(names.length);
  });

  const s3worker = alarmList.filter(([, a]) => a.Namespace === 'S3Worker');
  it.each(s3worker)(
    '%s: an s3worker metric with its unit, by Job and the Family of that job in deploy/',
    (file, alarm) => {
      const def = METRICS.find((m) => m.name === alarm.MetricName);
      expect(def, `${alarm.MetricName} is not in METRICS`).toBeDefined();
      expect(alarm.Unit).toBe(def?.unit);
      const dims = Object.fromEntries((alarm.Dimensions ?? []).map((d) => [d.Name, d.Value]));
      expect(Object.keys(dims).sort()).toEqual(['Family', 'Job']);
      const job = dims.Job ?? '';
      expect(Object.keys(BUILTIN_JOBS)).toContain(job);
      // The family of the task definition beside the alarm, whose s3worker container runs that job.
      const td = taskDefinitionOf(file.split('/')[1] ?? '');
      expect(dims.Family).toBe(td.family);
      const env = Object.fromEntries(
        (td.containerDefinitions.find((c) => c.name === 's3worker')?.environment ?? []).map((e) => [
          e.name,
          e.value,
        ]),
      );
      expect(env.S3WORKER_JOB).toBe(job);
      const scope: string = def?.scope ?? '';
      if (scope === 'queue') expect(env.S3WORKER_QUEUE).toBeDefined();
      else if (scope !== 'run') expect(scope).toBe(job);
    },
  );

  it('the SQS alarms watch the queues of deploy/stream-transform-queue/', () => {
    const queues = [queue.QueueName, deadLetterQueue.QueueName];
    const sqs = alarmList.filter(([, a]) => a.Namespace === 'AWS/SQS');
    expect(sqs.length).toBe(2);
    for (const [, alarm] of sqs) {
      expect(alarm.Dimensions).toHaveLength(1);
      expect(alarm.Dimensions?.[0]?.Name).toBe('QueueName');
      expect(queues).toContain(alarm.Dimensions?.[0]?.Value);
    }
    // Every namespace is s3worker's own or SQS's: nothing else is deployed with these files.
    expect(alarmList.filter(([, a]) => a.Namespace !== 'S3Worker').length).toBe(sqs.length);
  });

  it('dead-letter queue: any visible message in the queue the redrive policy names', () => {
    const redrive = JSON.parse(queue.Attributes.RedrivePolicy) as { deadLetterTargetArn: string };
    expect(
      redrive.deadLetterTargetArn.endsWith(`:${deadLetterQueueAlarm.Dimensions[0]?.Value}`),
    ).toBe(true);
    expect(deadLetterQueueAlarm).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      TreatMissingData: 'notBreaching',
    });
  });

  it('oldest message: above what a message being retried holds the age for, below the retention', () => {
    expect(oldestMessage.Dimensions[0]?.Value).toBe(queue.QueueName);
    expect(oldestMessage.MetricName).toBe('ApproximateAgeOfOldestMessage');
    expect(oldestMessage.ComparisonOperator).toBe('GreaterThanThreshold');
    // SQS leaves a message received 3 times without a delete out of the age: that is at most
    // 3 visibility timeouts; the threshold must not fire on a poison message on its way to the DLQ.
    const visibility = Number(queue.Attributes.VisibilityTimeout);
    expect(oldestMessage.Threshold).toBeGreaterThan(3 * visibility);
    expect(oldestMessage.Threshold).toBeLessThan(Number(queue.Attributes.MessageRetentionPeriod));
  });

  it('no good backup: 26 hourly periods in a row without a run that made a good backup (or without any run)', () => {
    expect(noGoodBackup).toMatchObject({
      MetricName: 'LastGoodBackupAgeSeconds',
      ComparisonOperator: 'GreaterThanThreshold',
      Statistic: 'Minimum',
      TreatMissingData: 'breaching',
    });
    // A window of 26 h needs periods of an hour or more (under an hour the window is at most 1 day).
    expect(noGoodBackup.Period).toBeGreaterThanOrEqual(3600);
    expect(noGoodBackup.Period * noGoodBackup.EvaluationPeriods).toBe(26 * 3600);
    // Every period must breach: one good run in the window keeps the alarm quiet.
    expect(noGoodBackup.DatapointsToAlarm).toBe(noGoodBackup.EvaluationPeriods);
    // A good run reports the age of its own backups (seconds, or the run's length when it backs
    // up several databases); a failed one the previous good backup's, a day or more after a
    // daily schedule: the threshold lies between the two, with room for long runs.
    expect(schedule.ScheduleExpression).toMatch(/^cron\(\d+ \d+ \* \* \? \*\)$/);
    const flexible = schedule.FlexibleTimeWindow.MaximumWindowInMinutes * 60;
    expect(noGoodBackup.Threshold).toBeGreaterThanOrEqual(6 * 3600);
    expect(noGoodBackup.Threshold).toBeLessThan(24 * 3600 - flexible);
  });

  describe('no good backup, evaluated hour by hour over simulated nights', () => {
    const HOUR = 3600;
    /**
     * The hour (from 0) at which the alarm goes to ALARM, as CloudWatch evaluates it: one value
     * per period (the statistic of the datapoints in it; missing as `TreatMissingData` says),
     * ALARM when `DatapointsToAlarm` of the last `EvaluationPeriods` breach.
     * `runs`: the hour of each run and the age it reports.
     */
    function alarmHour(
      runs: Array<{ hour: number; age: number }>,
      hours: number,
    ): number | undefined {
      expect(noGoodBackup.Period).toBe(HOUR);
      const breaching: boolean[] = [];
      for (let h = 0; h < hours; h++) {
        const ages = runs.filter((r) => r.hour === h).map((r) => r.age);
        breaching.push(
          ages.length === 0
            ? noGoodBackup.TreatMissingData === 'breaching'
            : Math.min(...ages) > noGoodBackup.Threshold,
        );
        const window = breaching.slice(-noGoodBackup.EvaluationPeriods);
        if (
          window.length === noGoodBackup.EvaluationPeriods &&
          window.filter(Boolean).length >= noGoodBackup.DatapointsToAlarm
        ) {
          return h;
        }
      }
      return undefined;
    }
    /** A run at 02:00 of `day`: 20 s old when good, else the age of the last good one. */
    const nightly = (days: number, good: (day: number) => boolean) => {
      const runs: Array<{ hour: number; age: number }> = [];
      let lastGood = -Infinity;
      for (let day = 0; day < days; day++) {
        const hour = day * 24 + 2;
        if (good(day)) lastGood = hour;
        runs.push({ hour, age: good(day) ? 20 : (hour - lastGood) * HOUR });
      }
      return runs;
    };

    it('stays quiet for a month of good nights, runs of several hours over many databases too', () => {
      expect(
        alarmHour(
          nightly(30, () => true),
          30 * 24,
        ),
      ).toBeUndefined();
      // A run that backs up databases for 5 h reports its first database's backup, 5 h old.
      const long = nightly(30, () => true).map((r) => ({ hour: r.hour + 5, age: 5 * HOUR }));
      expect(alarmHour(long, 30 * 24)).toBeUndefined();
    });

    it('fires 26 to 27 h after the last good backup when every later night fails', () => {
      const at = alarmHour(
        nightly(5, (day) => day === 0),
        5 * 24,
      );
      expect(at).toBeDefined();
      expect((at as number) - 2).toBeGreaterThanOrEqual(26);
      expect((at as number) - 2).toBeLessThanOrEqual(27);
    });

    it('fires 26 h after the last run when the schedule stops', () => {
      expect(
        alarmHour(
          nightly(1, () => true),
          5 * 24,
        ),
      ).toBe(2 + 26);
    });

    it('stays quiet when a failed night is fixed by a re-run within the hour', () => {
      const runs = nightly(5, (day) => day !== 2);
      runs.push({ hour: 2 * 24 + 2, age: 20 });
      expect(alarmHour(runs, 5 * 24)).toBeUndefined();
    });
  });

  it('ship-logs: unshipped lines older than 10 min (silence breaches), any dropped line', () => {
    expect(unshippedLines).toMatchObject({
      MetricName: 'OldestUnshippedSeconds',
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 600,
      TreatMissingData: 'breaching',
    });
    expect(linesDropped).toMatchObject({
      MetricName: 'LinesDropped',
      Statistic: 'Sum',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
    });
  });

  it('stream-transform: a run whose Success is 0', () => {
    expect(runFailed).toMatchObject({
      MetricName: 'Success',
      Statistic: 'Minimum',
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
  });
});

describe('deploy/alarm-topic.json and its policy', () => {
  it('is typed as CreateTopicCommandInput (tsc), its policy the readable alarm-topic-policy.json', () => {
    expectTypeOf(typedTopic).toMatchTypeOf<Json<CreateTopicCommandInput>>();
    expect(topic.Name).toMatch(/^[\w-]{1,256}$/);
    expect(JSON.parse(typedTopic.Attributes.Policy)).toEqual(topicPolicy);
  });

  it('every alarm action and the rule target name the same topic', () => {
    for (const [file, alarm] of alarmList) {
      expect(alarm.AlarmActions, file).toEqual([topicArn]);
      for (const action of alarm.OKActions ?? []) expect(action, file).toBe(topicArn);
      expect(alarm.InsufficientDataActions, file).toBeUndefined();
    }
    expect(typedTargets.Targets.map((t) => t.Arn)).toEqual([topicArn]);
  });

  it('lets only the rule and the s3worker alarms of this account publish', () => {
    const [events, cloudwatch] = topicPolicy.Statement;
    for (const s of topicPolicy.Statement) {
      expect(s).toMatchObject({ Effect: 'Allow', Action: 'sns:Publish', Resource: topicArn });
    }
    expect(topicPolicy.Statement).toHaveLength(2);
    expect(events).toMatchObject({
      Principal: { Service: 'events.amazonaws.com' },
      Condition: { ArnEquals: { 'aws:SourceArn': ruleArn } },
    });
    expect(cloudwatch).toMatchObject({
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Condition: { StringEquals: { 'aws:SourceAccount': '<ACCOUNT_ID>' } },
    });
    const like = cloudwatch?.Condition.ArnLike?.['aws:SourceArn'] ?? '';
    const glob = new RegExp(`^${like.split('*').map(escapeRegExp).join('.*')}$`);
    for (const [file, alarm] of alarmList) {
      expect(`arn:aws:cloudwatch:<REGION>:<ACCOUNT_ID>:alarm:${alarm.AlarmName}`, file).toMatch(
        glob,
      );
    }
  });
});

/** A task state change event in the shape of the ECS developer guide's example, stopped. */
function taskStopped(
  family: string,
  containers: Array<{ name: string; exitCode?: number }>,
  lastStatus = 'STOPPED',
): Record<string, unknown> {
  const taskArn =
    'arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad';
  return {
    version: '0',
    id: '3317b2af-7005-947d-b652-f55e762e571a',
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    account: '111122223333',
    time: '2020-01-23T17:57:58Z',
    region: 'us-west-2',
    resources: [taskArn],
    detail: {
      attachments: [
        {
          id: '1789bcae-ddfb-4d10-8ebe-8ac87ddba5b8',
          type: 'eni',
          status: 'DELETED',
          details: [{ name: 'subnetId', value: 'subnet-abcd1234' }],
        },
      ],
      availabilityZone: 'us-west-2c',
      clusterArn: 'arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster',
      containers: containers.map((c, i) => ({
        containerArn: `arn:aws:ecs:us-west-2:111122223333:container/cf159fd6-3e3f-4a9e-84f9-66cbe726af0${i}`,
        lastStatus,
        name: c.name,
        image: `111122223333.dkr.ecr.us-west-2.amazonaws.com/${c.name}:latest`,
        runtimeId: `ad64cbc71c7fb31c55507ec24c9f7794713${i}`,
        taskArn,
        ...(c.exitCode === undefined ? {} : { exitCode: c.exitCode }),
        networkInterfaces: [
          {
            attachmentId: '1789bcae-ddfb-4d10-8ebe-8ac87ddba5b8',
            privateIpv4Address: '10.0.0.139',
          },
        ],
        cpu: '0',
      })),
      createdAt: '2020-01-23T17:57:34.402Z',
      launchType: 'FARGATE',
      cpu: '256',
      memory: '512',
      desiredStatus: 'STOPPED',
      group: `family:${family}`,
      lastStatus,
      overrides: { containerOverrides: containers.map((c) => ({ name: c.name })) },
      connectivity: 'CONNECTED',
      connectivityAt: '2020-01-23T17:57:38.453Z',
      pullStartedAt: '2020-01-23T17:57:52.103Z',
      startedAt: '2020-01-23T17:57:58.103Z',
      pullStoppedAt: '2020-01-23T17:57:55.103Z',
      stoppingAt: '2020-01-23T18:10:01.100Z',
      stoppedAt: '2020-01-23T18:10:04.200Z',
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      updatedAt: '2020-01-23T18:10:04.200Z',
      taskArn,
      taskDefinitionArn: `arn:aws:ecs:us-west-2:111122223333:task-definition/${family}:7`,
      version: 6,
      platformVersion: '1.4.0',
    },
  };
}

/** The placeholders filled in as docs/deploy.md's sed does, for the example's account and region. */
const fill = (text: string) =>
  text.replaceAll('<REGION>', 'us-west-2').replaceAll('<ACCOUNT_ID>', '111122223333');
const filledPattern = JSON.parse(fill(typedRule.EventPattern)) as unknown;
const matches = (event: unknown) => matchesEventPattern(filledPattern, event);

describe('deploy/task-stopped-rule.json', () => {
  it('is typed as PutRuleCommandInput (tsc); its EventPattern is JSON, the readable task-stopped-pattern.json', () => {
    expectTypeOf(typedRule).toMatchTypeOf<Json<PutRuleCommandInput>>();
    expect(JSON.parse(rule.EventPattern)).toEqual(pattern);
    expect(rule.State).toBe('ENABLED');
    expect(rule.Description.length).toBeLessThanOrEqual(512);
  });

  it('matches a stopped s3worker task whose s3worker container exited non-zero', () => {
    for (const exitCode of [1, 2, 3, 11, 137]) {
      expect(matches(taskStopped('s3worker-db-backup', [{ name: 's3worker', exitCode }]))).toBe(
        true,
      );
    }
    expect(
      matches(taskStopped('s3worker-stream-transform-queue', [{ name: 's3worker', exitCode: 1 }])),
    ).toBe(true);
  });

  it('does not match exit 0, exit 4 (stopped by SIGTERM), no exit code, or a task still running', () => {
    const run = (exitCode?: number, lastStatus?: string) =>
      taskStopped(
        's3worker-stream-transform',
        [exitCode === undefined ? { name: 's3worker' } : { name: 's3worker', exitCode }],
        lastStatus,
      );
    expect(matches(run(1))).toBe(true);
    expect(matches(run(0))).toBe(false);
    expect(matches(run(4))).toBe(false);
    expect(matches(run(undefined))).toBe(false);
    expect(matches(run(1, 'RUNNING'))).toBe(false);
    expect(matches({ ...run(1), source: 'aws.batch' })).toBe(false);
  });

  it('does not match a task where another container failed and s3worker exited 0', () => {
    const sidecar = taskStopped('app-with-s3worker-ship-logs', [
      { name: 'app', exitCode: 1 },
      { name: 's3worker', exitCode: 0 },
    ]);
    expect(matches(sidecar)).toBe(false);
    // Without the task definition prefix it would: EventBridge matches the fields of an array of
    // objects each on its own, so "a container named s3worker" and "a container with a code
    // other than 0 and 4" can be two different containers.
    const unscoped = structuredClone(filledPattern) as { detail: Record<string, unknown> };
    delete unscoped.detail.taskDefinitionArn;
    expect(matchesEventPattern(unscoped, sidecar)).toBe(true);
    // The same event with the codes the other way round is indistinguishable to a pattern: the
    // sidecar's own failures are left to the ship-logs alarms.
    const shipperFailed = taskStopped('app-with-s3worker-ship-logs', [
      { name: 'app', exitCode: 0 },
      { name: 's3worker', exitCode: 1 },
    ]);
    expect(matches(shipperFailed)).toBe(false);
    expect(matchesEventPattern(unscoped, shipperFailed)).toBe(true);
  });

  it("covers exactly deploy/'s task definitions whose one container is s3worker", () => {
    const prefix = (pattern.detail.taskDefinitionArn[0]?.prefix ?? '').split('/')[1] ?? '';
    expect(prefix).toBe('s3worker-');
    for (const folder of folders) {
      const td = taskDefinitionOf(folder);
      const single =
        td.containerDefinitions.length === 1 && td.containerDefinitions[0]?.name === 's3worker';
      expect(td.family.startsWith(prefix), td.family).toBe(single);
      const exitCode = 1;
      const containers = td.containerDefinitions.map((c) => ({
        name: c.name,
        exitCode: c.name === 's3worker' ? exitCode : 0,
      }));
      expect(matches(taskStopped(td.family, containers)), td.family).toBe(single);
    }
  });
});

describe('deploy/task-stopped-targets.json', () => {
  const target = targets.Targets[0]!;
  const event = taskStopped('s3worker-db-backup', [{ name: 's3worker', exitCode: 13 }]);

  it('is typed as PutTargetsCommandInput (tsc), for the rule', () => {
    expectTypeOf(typedTargets).toMatchTypeOf<Json<PutTargetsCommandInput>>();
    expect(targets.Rule).toBe(rule.Name);
    expect(targets.Targets).toHaveLength(1);
    expect(target.Id).toMatch(/^[\w.-]{1,64}$/);
  });

  it('sends a readable message: every path resolves in a matching event, every placeholder is mapped', () => {
    const { InputPathsMap: paths, InputTemplate: template } = target.InputTransformer;
    expect(Object.keys(paths).length).toBeLessThanOrEqual(100);
    for (const [key, path] of Object.entries(paths)) {
      expect(key).not.toMatch(/^aws\./);
      expect(resolvePath(event, path), path).not.toBeUndefined();
    }
    const placeholders = [...template.matchAll(/<([^<>]+)>/g)].map((m) => m[1]);
    expect(placeholders.length).toBeGreaterThan(0);
    for (const p of placeholders) expect(Object.keys(paths)).toContain(p);
    // A quoted template: SNS gets the text, not JSON.
    expect(typeof JSON.parse(template)).toBe('string');
    const message = JSON.parse(
      template.replace(/<([^<>]+)>/g, (_m, key: string) =>
        String(resolvePath(event, paths[key as keyof typeof paths])),
      ),
    ) as string;
    expect(message).toContain('s3worker exited 13');
    expect(message).toContain('task-definition/s3worker-db-backup:7');
    expect(message).toContain('Essential container in task exited');
  });
});

/** An input path as EventBridge reads it: `$`, dot notation and array indices. */
function resolvePath(event: unknown, path: string): unknown {
  expect(path).toMatch(/^\$(\.[\w-]+(\[\d+\])*)+$/);
  let node: unknown = event;
  for (const step of path.slice(2).split('.')) {
    const [name, ...indices] = step.split(/[[\]]+/).filter((s) => s !== '');
    node = (node as Record<string, unknown> | undefined)?.[name!];
    for (const i of indices) node = (node as unknown[] | undefined)?.[Number(i)];
  }
  return node;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
