import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RegisterTaskDefinitionCommandInput } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import taskDefinition from '../../deploy/ship-logs/task-definition.json' with { type: 'json' };
import { parseDuration } from '../../src/config/duration-schema.js';
import { resolveConfig } from '../../src/config/resolve-config.js';
import { runtimeOptionsSchema } from '../../src/config/runtime-options.js';
import { LogShipperJob } from '../../src/jobs/ship-logs/log-shipper-job.js';

/** The input shape with every string-literal union widened to string, as a JSON import is typed. */
type Json<T> = T extends string
  ? string
  : T extends readonly (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]?: Json<NonNullable<T[K]>> }
      : T;

/** `never` at every key of A that S does not have, at any depth: a misspelt field fails tsc. */
type Exact<A, S> = A extends readonly (infer U)[]
  ? S extends readonly (infer V)[]
    ? Exact<U, V>[]
    : never
  : A extends object
    ? { [K in keyof A]: K extends keyof S ? Exact<A[K], NonNullable<S[K]>> : never }
    : A;

type Input = RegisterTaskDefinitionCommandInput;
// Checked by tsc: the JSON has RegisterTaskDefinition's field names and types.
const typed: Json<Input> & Exact<typeof taskDefinition, Input> = taskDefinition;
const td = typed as Input;

const app = td.containerDefinitions?.find((c) => c.name === 'app');
const sidecar = td.containerDefinitions?.find((c) => c.name === 's3worker');
const env = Object.fromEntries((sidecar?.environment ?? []).map((e) => [e.name, e.value]));

describe('deploy/ship-logs/task-definition.json (application + s3worker sidecar)', () => {
  it('has the application and the shipper, on Fargate in awsvpc', () => {
    expect(td.containerDefinitions?.map((c) => c.name)).toEqual(['app', 's3worker']);
    expect(td.requiresCompatibilities).toEqual(['FARGATE']);
    expect(td.networkMode).toBe('awsvpc');
    expect(td.taskRoleArn).toMatch(/^arn:aws:iam::<ACCOUNT_ID>:role\/<[\w+=,.@-]+>$/);
  });

  it('starts the shipper first and stops it last (the application depends on it)', () => {
    expect(app?.dependsOn).toEqual([{ containerName: 's3worker', condition: 'START' }]);
    // ECS stops dependents first: the application stops writing, then the shipper drains.
    expect(sidecar?.stopTimeout).toBe(120);
    expect(app?.stopTimeout ?? 30).toBeLessThan(sidecar?.stopTimeout ?? 0);
    const drain = parseDuration(env.S3WORKER_DRAIN_TIMEOUT ?? '');
    expect(drain).toBeLessThan((sidecar?.stopTimeout ?? 0) * 1000);
    expect(sidecar?.linuxParameters?.initProcessEnabled).toBe(true);
  });

  it('keeps the application running if the shipper fails, and restarts the shipper', () => {
    expect(app?.essential).toBe(true);
    expect(sidecar?.essential).toBe(false);
    expect(sidecar?.restartPolicy?.enabled).toBe(true);
  });

  it('shares the log folder: written by the application, read-only for the shipper', () => {
    const appMount = app?.mountPoints?.find((m) => m.sourceVolume === 'app-logs');
    const shipperMount = sidecar?.mountPoints?.find((m) => m.sourceVolume === 'app-logs');
    expect(appMount?.readOnly).toBe(false);
    expect(shipperMount?.readOnly).toBe(true);
    expect(shipperMount?.containerPath).toBe(appMount?.containerPath);
    expect(dirname(env.S3WORKER_PATH ?? '')).toBe(shipperMount?.containerPath);
  });

  it('keeps spool and checkpoint on the scratch volume, so a restarted shipper resumes', () => {
    const scratch = sidecar?.mountPoints?.find((m) => m.containerPath === env.S3WORKER_TMPDIR);
    expect(scratch?.readOnly).toBe(false);
    expect(td.volumes?.map((v) => v.name)).toEqual(['app-logs', 'scratch']);
    expect(sidecar?.readonlyRootFilesystem).toBe(true);
    expect(sidecar?.user).toBe('10001:10001');
  });

  it('runs the same config as deploy/ship-logs/config.json (the policy is generated from it)', () => {
    expect(sidecar?.command).toEqual(['run']);
    expect(env.S3WORKER_JOB).toBe('ship-logs');
    const schemas = { runtime: runtimeOptionsSchema, job: LogShipperJob.configSchema };
    const fromEnv = resolveConfig(schemas, { flags: {}, env });
    const file = JSON.parse(
      readFileSync(new URL('../../deploy/ship-logs/config.json', import.meta.url), 'utf8'),
    ) as Record<string, unknown>;
    const fromFile = resolveConfig(schemas, {
      flags: {},
      env: {},
      file: { values: { ...file, job: 'ship-logs' }, name: 'config.json' },
    });
    expect(fromEnv.config.job).toEqual(fromFile.config.job);
    expect({ ...fromEnv.config.runtime }).toEqual({ ...fromFile.config.runtime });
    expect(sidecar?.secrets ?? []).toEqual([]);
  });
});
