import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  Compatibility,
  CPUArchitecture,
  LogDriver,
  NetworkMode,
  OSFamily,
  type RegisterTaskDefinitionCommandInput,
} from '@aws-sdk/client-ecs';
import { DockerfileParser } from 'dockerfile-ast';
import { describe, expect, expectTypeOf, it } from 'vitest';
import streamTransform from '../../deploy/stream-transform/task-definition.json' with {
  type: 'json',
};
import streamTransformQueue from '../../deploy/stream-transform-queue/task-definition.json' with {
  type: 'json',
};
import { resolveConfig } from '../../src/config/resolve-config.js';
import { runtimeOptionsSchema } from '../../src/config/runtime-options.js';
import { ObjectTransformJob } from '../../src/jobs/stream-transform/object-transform-job.js';
import topLevel from '../../task-definition.json' with { type: 'json' };

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

// Checked by tsc (npm run typecheck), not at run time: the JSON has the SDK's field names and types.
const typed: Json<Input> & Exact<typeof streamTransform, Input> = streamTransform;
const typedTopLevel: Json<Input> & Exact<typeof topLevel, Input> = topLevel;
const misspelt = { ...streamTransform, famly: 'x' };
// @ts-expect-error a field RegisterTaskDefinition does not know is a type error
const rejected: Exact<typeof misspelt, Input> = misspelt;

const FARGATE_MEMORY: Record<string, number[]> = {
  '256': [512, 1024, 2048],
  '512': range(1024, 4096, 1024),
  '1024': range(2048, 8192, 1024),
  '2048': range(4096, 16384, 1024),
  '4096': range(8192, 30720, 1024),
  '8192': range(16384, 61440, 4096),
  '16384': range(32768, 122880, 8192),
};

function range(from: number, to: number, step: number): number[] {
  return Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);
}

const dockerfile = DockerfileParser.parse(
  readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8'),
);
/**
 * The instructions of the image users run (the last stage), with those of the stages it is
 * built FROM (`FROM core AS default` inherits core's USER and VOLUME), oldest first.
 */
const runtimeStage = (() => {
  const all = dockerfile.getInstructions();
  const starts = all.flatMap((ins, at) => (ins.getKeyword() === 'FROM' ? [at] : []));
  const stages = starts.map((start, n) => {
    const args = all[start]!.getArguments().map((a) => a.getValue());
    return { base: args[0], name: args[2], body: all.slice(start, starts[n + 1] ?? all.length) };
  });
  const chain: (typeof stages)[number][] = [];
  for (let stage = stages.at(-1); stage; ) {
    chain.unshift(stage);
    const base = stage.base;
    stage = stages.find((s) => s.name !== undefined && s.name === base);
  }
  return chain.flatMap((s) => s.body);
})();

/**
 * Each task definition: its file, its job, and the secrets that job reads (names injected by
 * ECS from Secrets Manager or SSM). A task definition holds no secret its job does not use.
 */
const TASK_DEFINITIONS: Array<[file: string, job: string, td: Input, secrets: string[]]> = [
  ['task-definition.json', 'stream-transform', topLevel as Input, []],
  [
    'deploy/stream-transform/task-definition.json',
    'stream-transform',
    streamTransform as Input,
    [],
  ],
  [
    'deploy/stream-transform-queue/task-definition.json',
    'stream-transform',
    streamTransformQueue as Input,
    [],
  ],
];

describe('task-definition.json at the top level', () => {
  it("is the main job's: deploy/stream-transform/task-definition.json, copied by scripts/gen-deploy.mjs", () => {
    expectTypeOf(typedTopLevel).toMatchTypeOf<Json<Input>>();
    expect(topLevel).toEqual(streamTransform);
  });
});

describe.each(TASK_DEFINITIONS)('%s', (tdFile, job, td, secrets) => {
  const container = td.containerDefinitions?.[0];
  const env = Object.fromEntries((container?.environment ?? []).map((e) => [e.name, e.value]));

  it('is typed as RegisterTaskDefinitionCommandInput (tsc)', () => {
    expectTypeOf(typed).toMatchTypeOf<Json<Input>>();
    expect(rejected.famly).toBe('x');
  });

  it('has the required fields and valid enum values', () => {
    expect(td.family).toMatch(/^[A-Za-z0-9_-]{1,255}$/);
    expect(td.containerDefinitions).toHaveLength(1);
    expect(container?.name).toMatch(/^[A-Za-z0-9_-]{1,255}$/);
    expect(container?.image).toBeTruthy();
    expect(Object.values(NetworkMode)).toContain(td.networkMode);
    for (const c of td.requiresCompatibilities ?? []) {
      expect(Object.values(Compatibility)).toContain(c);
    }
    expect(Object.values(OSFamily)).toContain(td.runtimePlatform?.operatingSystemFamily);
    expect(Object.values(CPUArchitecture)).toContain(td.runtimePlatform?.cpuArchitecture);
    expect(Object.values(LogDriver)).toContain(container?.logConfiguration?.logDriver);
  });

  it('runs on Fargate in awsvpc with a valid cpu/memory pair', () => {
    expect(td.requiresCompatibilities).toEqual(['FARGATE']);
    expect(td.networkMode).toBe('awsvpc');
    expect(FARGATE_MEMORY[td.cpu ?? '']).toContain(Number(td.memory));
  });

  it('marks the account, role names and region as placeholders', () => {
    expect(td.taskRoleArn).toMatch(/^arn:aws:iam::<ACCOUNT_ID>:role\/<[\w+=,.@-]+>$/);
    expect(td.executionRoleArn).toMatch(/^arn:aws:iam::<ACCOUNT_ID>:role\/<[\w+=,.@-]+>$/);
    expect(container?.logConfiguration?.options?.['awslogs-region']).toBe('<REGION>');
  });

  it('stops gracefully: stopTimeout 120 (Fargate max), drain deadline below it, init process', () => {
    expect(container?.stopTimeout).toBe(120);
    expect(container?.linuxParameters?.initProcessEnabled).toBe(true);
    const drain = env.S3WORKER_DRAIN_TIMEOUT ?? '';
    expect(Number.parseInt(drain, 10)).toBeLessThan(120);
    expect(drain).toMatch(/^\d+s$/);
  });

  it('runs as the image user with a read-only root and a scratch volume at S3WORKER_TMPDIR', () => {
    const user = runtimeStage.filter((i) => i.getKeyword() === 'USER').at(-1);
    expect(container?.user).toBe(user?.getArgumentsContent());
    expect(container?.user).not.toMatch(/^(0|root)(:|$)/);
    expect(container?.readonlyRootFilesystem).toBe(true);
    const mount = container?.mountPoints?.find((m) => m.containerPath === env.S3WORKER_TMPDIR);
    expect(mount?.readOnly).toBe(false);
    expect(td.volumes?.map((v) => v.name)).toContain(mount?.sourceVolume);
    const volume = runtimeStage.find((i) => i.getKeyword() === 'VOLUME');
    expect(JSON.parse(volume?.getArgumentsContent() ?? '[]')).toEqual([env.S3WORKER_TMPDIR]);
  });

  it('checks health with the same command as the image, within ECS limits', () => {
    const hc = container?.healthCheck;
    expect(hc?.command).toEqual(['CMD', 's3worker', 'healthcheck']);
    expect(hc?.interval).toBeGreaterThanOrEqual(5);
    expect(hc?.interval).toBeLessThanOrEqual(300);
    expect(hc?.timeout).toBeGreaterThanOrEqual(2);
    expect(hc?.timeout).toBeLessThan(hc?.interval ?? 0);
    expect(hc?.retries).toBeGreaterThanOrEqual(1);
    expect(hc?.retries).toBeLessThanOrEqual(10);
    expect(hc?.startPeriod).toBeLessThanOrEqual(300);
  });

  it('holds only the secrets its job reads, from Secrets Manager or SSM, none in the environment', () => {
    expect((container?.secrets ?? []).map((s) => s.name)).toEqual(secrets);
    for (const s of container?.secrets ?? []) {
      expect(s.valueFrom).toMatch(
        /^arn:aws:(secretsmanager:<REGION>:<ACCOUNT_ID>:secret:|ssm:<REGION>:<ACCOUNT_ID>:parameter\/)\S+$/,
      );
    }
    for (const name of Object.keys(env)) {
      expect(name).not.toMatch(/PASSWORD|SECRET|TOKEN|PWD|ACCESS_KEY/);
    }
  });

  it('logs to CloudWatch with awslogs', () => {
    const options = container?.logConfiguration?.options ?? {};
    expect(container?.logConfiguration?.logDriver).toBe('awslogs');
    expect(options['awslogs-group']).toMatch(/^\/ecs\//);
    expect(options['awslogs-stream-prefix']).toBeTruthy();
  });

  it('chooses the job by environment, with a config valid for the runtime and the same as config.json', () => {
    expect(container?.command).toEqual(['run']);
    expect(env.S3WORKER_JOB).toBe(job);
    const schemas = { runtime: runtimeOptionsSchema, job: ObjectTransformJob.configSchema };
    const fromEnv = resolveConfig(schemas, { flags: {}, env });
    const file = JSON.parse(
      // Beside the task definition in deploy/, the main job's for the top-level copy.
      readFileSync(
        new URL(
          `../../${tdFile.startsWith('deploy/') ? dirname(tdFile) : `deploy/${job}`}/config.json`,
          import.meta.url,
        ),
        'utf8',
      ),
    ) as Record<string, unknown>;
    const fromFile = resolveConfig(schemas, {
      flags: {},
      env: {},
      file: { values: { ...file, job }, name: 'config.json' },
    });
    // The committed policy is generated from config.json: the task must run that same config.
    expect(fromEnv.config.job).toEqual(fromFile.config.job);
    expect({ ...fromEnv.config.runtime }).toEqual({ ...fromFile.config.runtime });
  });
});
