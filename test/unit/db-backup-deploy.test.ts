import { readFileSync } from 'node:fs';
import type { RegisterTaskDefinitionCommandInput } from '@aws-sdk/client-ecs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import backupTd from '../../deploy/db-backup/task-definition.json' with { type: 'json' };
import restoreTd from '../../deploy/db-restore/task-definition.json' with { type: 'json' };
import { resolveConfig } from '../../src/config/resolve-config.js';
import { runtimeOptionsSchema } from '../../src/config/runtime-options.js';
import { DatabaseBackupJob } from '../../src/jobs/db-backup/database-backup-job.js';
import { DatabaseRestoreJob } from '../../src/jobs/db-restore/database-restore-job.js';
import type { JobClass } from '../../src/jobs/job.js';

/** The input shape with every string-literal union widened to string, as a JSON import is typed. */
type Json<T> = T extends string
  ? string
  : T extends readonly (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]?: Json<NonNullable<T[K]>> }
      : T;
type Input = RegisterTaskDefinitionCommandInput;

// Checked by tsc: the JSON has RegisterTaskDefinition's field names and types.
const typedBackup: Json<Input> = backupTd;
const typedRestore: Json<Input> = restoreTd;

const read = (path: string) =>
  JSON.parse(readFileSync(new URL(`../../deploy/${path}`, import.meta.url), 'utf8')) as Record<
    string,
    // biome-ignore lint/suspicious/noExplicitAny: hand-written JSON documents, checked field by field
    any
  >;

const ROWS: Array<[job: string, td: Input, jobClass: JobClass, secrets: string[]]> = [
  ['db-backup', backupTd as Input, DatabaseBackupJob as unknown as JobClass, ['PGPASSWORD']],
  [
    'db-restore',
    restoreTd as Input,
    DatabaseRestoreJob as unknown as JobClass,
    ['PGPASSWORD', 'AGE_IDENTITY'],
  ],
];

describe.each(ROWS)('deploy/%s', (job, td, jobClass, secrets) => {
  const container = td.containerDefinitions?.[0];
  const env = Object.fromEntries((container?.environment ?? []).map((e) => [e.name, e.value!]));

  it('is a RegisterTaskDefinition input for Fargate, stopping gracefully on a read-only root', () => {
    expectTypeOf(typedBackup).toMatchTypeOf<Json<Input>>();
    expectTypeOf(typedRestore).toMatchTypeOf<Json<Input>>();
    expect(td.family).toBe(`s3worker-${job}`);
    expect(td.requiresCompatibilities).toEqual(['FARGATE']);
    expect(container?.readonlyRootFilesystem).toBe(true);
    expect(container?.stopTimeout).toBe(120);
    expect(Number.parseInt(env.S3WORKER_DRAIN_TIMEOUT ?? '', 10)).toBeLessThan(120);
    expect(container?.linuxParameters?.initProcessEnabled).toBe(true);
  });

  it('gets the database password (and for the restore, the age identity) from Secrets Manager only', () => {
    expect((container?.secrets ?? []).map((s) => s.name)).toEqual(secrets);
    for (const s of container?.secrets ?? []) {
      expect(s.valueFrom).toMatch(/^arn:aws:secretsmanager:<REGION>:<ACCOUNT_ID>:secret:\S+$/);
    }
    for (const name of Object.keys(env))
      expect(name).not.toMatch(/PASSWORD|SECRET|TOKEN|PWD|IDENTITY$/);
  });

  it('runs the same config as config.json, which the committed policy was generated from', () => {
    expect(container?.command).toEqual(['run']);
    expect(env.S3WORKER_JOB).toBe(job);
    const schemas = { runtime: runtimeOptionsSchema, job: jobClass.configSchema };
    const fromEnv = resolveConfig(schemas, { flags: {}, env });
    const file = read(`${job}/config.json`);
    const fromFile = resolveConfig(schemas, {
      flags: {},
      env: {},
      file: { values: { ...file, job }, name: 'config.json' },
    });
    expect(fromEnv.config.job).toEqual(fromFile.config.job);
    expect(fromEnv.config.runtime.drainTimeout).toEqual(fromFile.config.runtime.drainTimeout);
    // The job's own checks pass too.
    expect(() => new jobClass(fromEnv.config.job)).not.toThrow();
  });
});

describe('the generated policies', () => {
  const actions = (job: string) =>
    read(`${job}/policy.json`).Statement.flatMap((s: { Action: string[] }) => s.Action);

  it('let the restore task read, never write or delete', () => {
    expect(actions('db-restore').sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
  });

  it('let the backup task read and delete only because retention is on in its config', () => {
    expect(read('db-backup/config.json').keepLast).toBeGreaterThan(0);
    expect(actions('db-backup')).toEqual(
      expect.arrayContaining(['s3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject']),
    );
    expect(actions('db-backup').some((a: string) => a.startsWith('kms:'))).toBe(false);
  });
});

describe('deploy/db-backup/schedule.json (EventBridge Scheduler CreateSchedule input)', () => {
  const schedule = read('db-backup/schedule.json');
  const role = read('db-backup/scheduler-role-policy.json');
  const trust = read('db-backup/scheduler-trust-policy.json');

  it('runs the backup task definition on Fargate once a night, in private subnets', () => {
    expect(schedule.ScheduleExpression).toMatch(/^cron\((\S+ ){5}\S+\)$/);
    expect(schedule.Name).toMatch(/^[0-9a-zA-Z-_.]{1,64}$/);
    const ecs = schedule.Target.EcsParameters;
    expect(ecs.TaskDefinitionArn).toMatch(new RegExp(`task-definition/${backupTd.family}$`));
    expect(ecs.LaunchType).toBe('FARGATE');
    expect(ecs.TaskCount).toBe(1);
    expect(ecs.NetworkConfiguration.awsvpcConfiguration.AssignPublicIp).toBe('DISABLED');
    expect(schedule.Target.Arn).toMatch(/^arn:aws:ecs:<REGION>:<ACCOUNT_ID>:cluster\//);
    expect(schedule.Target.RetryPolicy.MaximumRetryAttempts).toBeLessThanOrEqual(185);
  });

  it("gives the scheduler's role RunTask on that task and PassRole on its two roles only", () => {
    const run = role.Statement.find((s: { Action: string[] }) => s.Action.includes('ecs:RunTask'));
    expect(
      run.Resource.every((r: string) => r.includes(`task-definition/${backupTd.family}`)),
    ).toBe(true);
    const pass = role.Statement.find((s: { Action: string[] }) =>
      s.Action.includes('iam:PassRole'),
    );
    expect(pass.Resource.sort()).toEqual([backupTd.executionRoleArn, backupTd.taskRoleArn].sort());
    expect(schedule.Target.RoleArn).toMatch(/^arn:aws:iam::<ACCOUNT_ID>:role\//);
    expect(trust.Statement[0].Principal.Service).toBe('scheduler.amazonaws.com');
    expect(trust.Statement[0].Condition.StringEquals['aws:SourceAccount']).toBe('<ACCOUNT_ID>');
  });
});
