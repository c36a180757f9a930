import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type LoadedJobConfig, loadJobConfig } from '../../src/cli/load-job-config.js';
import { durationSchema } from '../../src/config/duration-schema.js';
import { sizeSchema } from '../../src/config/size-schema.js';
import { ConfigError, ExitCode } from '../../src/errors.js';
import { Job, type JobResult } from '../../src/jobs/job.js';
import { createJobRegistry, JobRegistry } from '../../src/jobs/registry.js';

const settingsSchema = z.object({
  name: z.string().default('from-default').describe('a name'),
  count: z.int().min(0).default(1),
  partSize: sizeSchema.default(8 * 1024 ** 2),
  wait: durationSchema.default(1000),
  verbose: z.boolean().default(false),
  mode: z.enum(['fast', 'slow']).default('fast'),
  include: z.array(z.string()).default([]),
  metadata: z.record(z.string(), z.string()).default({}),
});
type Settings = z.infer<typeof settingsSchema>;

class SettingsJob extends Job<Settings> {
  static override readonly jobName = 'settings';
  static override readonly description = 'test job';
  static override readonly configSchema = settingsSchema;
  permissions() {
    return [];
  }
  async run(): Promise<JobResult> {
    return { objects: { done: 0, skipped: 0, failed: 0 }, bytesIn: 0, bytesOut: 0 };
  }
}

function registry(): JobRegistry {
  const r = new JobRegistry();
  r.register(SettingsJob);
  return r;
}

async function load(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<LoadedJobConfig<Settings>> {
  const loaded = await loadJobConfig({ args, env, registry: registry(), ...(cwd ? { cwd } : {}) });
  if (loaded.help) throw new Error('unexpected help');
  return loaded as LoadedJobConfig<Settings>;
}

async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

function configFile(values: Record<string, unknown>): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 's3worker-config-'));
  const path = join(dir, 'config.json');
  writeFileSync(path, JSON.stringify(values));
  return { dir, path };
}

describe('config precedence: flag > env > file > default', () => {
  it('takes each field from the highest source that sets it, and says which', async () => {
    const { path } = configFile({ name: 'from-file', count: 3, mode: 'slow', partSize: '6MiB' });
    const loaded = await load(['settings', '--config', path, '--name', 'from-flag'], {
      S3WORKER_NAME: 'from-env',
      S3WORKER_COUNT: '7',
    });
    expect(loaded.jobConfig.name).toBe('from-flag');
    expect(loaded.jobConfig.count).toBe(7);
    expect(loaded.jobConfig.mode).toBe('slow');
    expect(loaded.jobConfig.partSize).toBe(6 * 1024 ** 2);
    expect(loaded.jobConfig.verbose).toBe(false);
    expect(loaded.sources).toMatchObject({
      name: 'flag',
      count: 'env',
      mode: 'file',
      partSize: 'file',
      verbose: 'default',
    });
  });

  it('takes the job name from S3WORKER_JOB or the config file when no argument names it', async () => {
    expect((await load([], { S3WORKER_JOB: 'settings' })).jobClass).toBe(SettingsJob);
    const { path } = configFile({ job: 'settings' });
    expect((await load(['--config', path])).jobClass).toBe(SettingsJob);
    expect((await load([], { S3WORKER_CONFIG: path })).runtime.job).toBe('settings');
  });

  it('finds the job name after options too, and still flags a second stray argument', async () => {
    const { path } = configFile({});
    expect((await load(['--config', path, 'settings', '--count', '2'])).jobConfig.count).toBe(2);
    const err = await configError(load(['--count', '2', 'settings', 'extra']));
    expect(err.issues).toEqual([
      { path: 'extra', message: 'unexpected argument (options are --name value)' },
    ]);
  });

  it('applies the runtime defaults (drain 25s, progress 10s, info logs)', async () => {
    const { runtime } = await load(['settings']);
    expect(runtime.drainTimeout).toBe(25_000);
    expect(runtime.progressInterval).toBe(10_000);
    expect(runtime.logLevel).toBe('info');
    expect(runtime.credentials).toBe('auto');
  });
});

describe('coercion of flag and environment text', () => {
  it('numbers, sizes, durations and enums from flags', async () => {
    const { jobConfig, runtime } = await load([
      'settings',
      '--count=12',
      '--part-size',
      '16MiB',
      '--wait',
      '1m30s',
      '--mode',
      'slow',
      '--drain-timeout',
      '500ms',
      '--max-attempts',
      '5',
    ]);
    expect(jobConfig).toMatchObject({
      count: 12,
      partSize: 16 * 1024 ** 2,
      wait: 90_000,
      mode: 'slow',
    });
    expect(runtime.drainTimeout).toBe(500);
    expect(runtime.maxAttempts).toBe(5);
  });

  it('booleans: --x, --no-x, --x=false, and env true/false/1/0', async () => {
    expect((await load(['settings', '--verbose'])).jobConfig.verbose).toBe(true);
    expect((await load(['settings', '--verbose=false'])).jobConfig.verbose).toBe(false);
    expect(
      (await load(['settings', '--no-verbose'], { S3WORKER_VERBOSE: 'true' })).jobConfig.verbose,
    ).toBe(false);
    for (const [text, value] of [
      ['1', true],
      ['0', false],
      ['TRUE', true],
      ['false', false],
    ] as const) {
      expect((await load(['settings'], { S3WORKER_VERBOSE: text })).jobConfig.verbose).toBe(value);
    }
  });

  it('lists: a repeated flag, or comma-separated env that keeps brace globs whole', async () => {
    expect(
      (await load(['settings', '--include', 'a/*', '--include', '*.{json,csv}'])).jobConfig.include,
    ).toEqual(['a/*', '*.{json,csv}']);
    expect(
      (await load(['settings'], { S3WORKER_INCLUDE: 'a/*, *.{json,csv}' })).jobConfig.include,
    ).toEqual(['a/*', '*.{json,csv}']);
  });

  it('records: repeated --x k=v, or k=v,k2=v2 in env; a value may hold "="', async () => {
    expect(
      (await load(['settings', '--metadata', 'team=data', '--metadata', 'q=a=b'])).jobConfig
        .metadata,
    ).toEqual({ team: 'data', q: 'a=b' });
    expect(
      (await load(['settings'], { S3WORKER_METADATA: 'team=data,env=prod' })).jobConfig.metadata,
    ).toEqual({ team: 'data', env: 'prod' });
  });

  it('a flag beats env for lists instead of merging with it', async () => {
    expect(
      (await load(['settings', '--include', 'x'], { S3WORKER_INCLUDE: 'y,z' })).jobConfig.include,
    ).toEqual(['x']);
  });
});

describe('invalid configuration lists every problem with its path and source', () => {
  it('bad text in flags, env and file, unknown options and fields, all at once', async () => {
    const { path } = configFile({ mode: 'medium', colour: 'blue' });
    const err = await configError(
      load(['settings', '--config', path, '--count', 'many', '--bogus', 'x', 'stray'], {
        S3WORKER_VERBOSE: 'maybe',
        S3WORKER_PART_SIZE: 'huge',
        S3WORKER_WAIT: '10',
      }),
    );
    expect(err.exitCode).toBe(ExitCode.Config);
    const byPath = Object.fromEntries(err.issues.map((i) => [i.path, i.message]));
    expect(byPath.count).toMatch(/not a number.*from flag --count/);
    expect(byPath['--bogus']).toBe('unknown option');
    expect(byPath.stray).toMatch(/unexpected argument/);
    expect(byPath.verbose).toMatch(/not a boolean.*from env S3WORKER_VERBOSE/);
    expect(byPath.partSize).toMatch(/not a size.*from env S3WORKER_PART_SIZE/);
    expect(byPath.wait).toMatch(/not a duration.*from env S3WORKER_WAIT/);
    expect(byPath.mode).toMatch(/from config file .*config\.json/);
    expect(byPath.colour).toMatch(/unknown field/);
    expect(err.issues).toHaveLength(8);
  });

  it('a progress interval under 100ms is refused (it would spin)', async () => {
    const err = await configError(load(['settings', '--progress-interval', '0']));
    expect(err.issues).toEqual([
      {
        path: 'progressInterval',
        message: 'must be at least 100ms (from flag --progress-interval)',
      },
    ]);
  });

  it('an unknown job names the known ones', async () => {
    const err = await configError(load(['nosuch']));
    expect(err.issues).toEqual([
      { path: 'job', message: 'unknown job "nosuch"; known jobs: settings' },
    ]);
  });

  it('no job at all says how to name one', async () => {
    const err = await configError(load(['--count', '1']));
    expect(err.issues[0]?.message).toMatch(/no job given; known jobs: settings/);
  });

  it('stream-transform: bad s3 URL, negative concurrency and a part size under 5 MiB together', async () => {
    const err = await configError(
      loadJobConfig({
        args: [
          'stream-transform',
          '--input',
          'http://not-s3/x',
          '--output',
          's3://Bad_Bucket/out',
          '--concurrency',
          '-1',
          '--part-size',
          '1MiB',
        ],
        env: {},
        registry: await createJobRegistry(),
      }),
    );
    const paths = err.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['input', 'output', 'concurrency', 'partSize']));
    const partSize = err.issues.find((i) => i.path === 'partSize');
    expect(partSize?.message).toMatch(/5 MiB.*from flag --part-size/);
    expect(err.message).toMatch(/concurrency: .*from flag --concurrency/);
  });

  it('a missing required field names the flag, the env variable and the file key', async () => {
    const err = await configError(
      loadJobConfig({
        args: ['stream-transform', '--output', 's3://out-bucket/x'],
        env: {},
        registry: await createJobRegistry(),
      }),
    );
    expect(err.issues).toContainEqual({
      path: 'input',
      message: 'required: set --input, S3WORKER_INPUT or "input" in the config file',
    });
  });

  it('an unreadable or non-JSON config file is a config error naming it', async () => {
    const missing = await configError(load(['settings', '--config', '/nonexistent/s3worker.json']));
    expect(missing.issues[0]?.message).toMatch(/cannot read \/nonexistent\/s3worker\.json/);
    const dir = mkdtempSync(join(tmpdir(), 's3worker-config-'));
    writeFileSync(join(dir, 'bad.json'), '{ "count": ');
    const bad = await configError(load(['settings', '--config', 'bad.json'], {}, dir));
    expect(bad.issues[0]?.message).toMatch(/bad\.json is not valid JSON/);
  });
});

describe('--help', () => {
  it('is a help request for the named job, with no validation', async () => {
    const loaded = await loadJobConfig({
      args: ['settings', '--help', '--count', 'many'],
      env: {},
      registry: registry(),
    });
    expect(loaded).toMatchObject({ help: true, jobClass: SettingsJob });
  });
});

describe("a job's own defaults of the transfer options", () => {
  class FewPartsJob extends Job<unknown> {
    static override readonly jobName = 'few-parts';
    static override readonly description = 'test job with its own transfer defaults';
    static override readonly configSchema = z.object({});
    static override readonly transferDefaults = { queueSize: 1, partSize: 5 * 1024 ** 2 };
    permissions() {
      return [];
    }
    async run(): Promise<JobResult> {
      return { objects: { done: 0, skipped: 0, failed: 0 }, bytesIn: 0, bytesOut: 0 };
    }
  }
  const loadFew = async (args: string[], env: Record<string, string> = {}, cwd?: string) => {
    const r = new JobRegistry();
    r.register(FewPartsJob);
    r.register(SettingsJob);
    const loaded = await loadJobConfig({ args, env, registry: r, ...(cwd ? { cwd } : {}) });
    if (loaded.help) throw new Error('unexpected help');
    return loaded;
  };

  it('apply where nothing set the option, and give way to a flag, the environment or the file', async () => {
    const plain = await loadFew(['few-parts']);
    expect(plain.runtime.queueSize).toBe(1);
    expect(plain.runtime.partSize).toBe(5 * 1024 ** 2);
    // Another job keeps the run's defaults.
    const other = await loadFew(['settings']);
    expect(other.runtime.queueSize).toBe(4);
    const flag = await loadFew(['few-parts', '--queue-size', '3']);
    expect(flag.runtime.queueSize).toBe(3);
    expect(flag.runtime.partSize).toBe(5 * 1024 ** 2);
    const env = await loadFew(['few-parts'], { S3WORKER_PART_SIZE: '16MiB' });
    expect(env.runtime.partSize).toBe(16 * 1024 ** 2);
    const { dir, path } = configFile({ queueSize: 6 });
    const file = await loadFew(['few-parts', '--config', path], {}, dir);
    expect(file.runtime.queueSize).toBe(6);
  });

  it('ship-logs sends one 5 MiB part at a time and db-backup two unless told otherwise, and --help says so', async () => {
    const builtins = await createJobRegistry();
    const loaded = await loadJobConfig({
      args: ['ship-logs', '--path', '/var/log/app/*.log', '--output', 's3://logs/app/'],
      env: {},
      registry: builtins,
    });
    if (loaded.help) throw new Error('unexpected help');
    expect(loaded.runtime.queueSize).toBe(1);
    expect(loaded.runtime.partSize).toBe(5 * 1024 ** 2);
    const { jobHelp } = await import('../../src/cli/job-help.js');
    expect(jobHelp(loaded.jobClass)).toContain(
      'Defaults of ship-logs that differ from the shared ones above: --queue-size 1, --part-size 5 MiB.',
    );
    expect(jobHelp(FewPartsJob)).toContain('--queue-size 1, --part-size 5 MiB');
    const backup = await loadJobConfig({
      args: [
        'db-backup',
        '--engine',
        'postgres',
        '--database',
        'app',
        '--output',
        's3://backups/db/',
      ],
      env: {},
      registry: builtins,
    });
    if (backup.help) throw new Error('unexpected help');
    expect([backup.runtime.queueSize, backup.runtime.partSize]).toEqual([2, 5 * 1024 ** 2]);
    expect(jobHelp(await builtins.get('stream-transform'))).not.toContain(
      'that differ from the shared ones',
    );
  });
});
