import { GetObjectCommand } from '@aws-sdk/client-s3';
import { awsOptionsSchema } from '../config/aws-options.js';
import { describeFields, envName } from '../config/option-fields.js';
import { parseArgs } from '../config/parse-args.js';
import { type ConfigFile, readConfigFile } from '../config/read-config-file.js';
import { type ResolvedConfig, resolveConfig, type ValueSource } from '../config/resolve-config.js';
import { type RuntimeOptions, runtimeOptionsSchema } from '../config/runtime-options.js';
import type { S3Location } from '../config/s3-location.js';
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { JobClass } from '../jobs/job.js';
import { loadHandler } from '../jobs/load-handler.js';
import { createJobRegistry, type JobRegistry } from '../jobs/registry.js';
import { createS3Client } from '../s3/client.js';
import { explainS3Error } from '../s3/explain-error.js';

/** What `run` (or `policy`, `doctor`) was given. */
export interface JobConfigRequest {
  /** Arguments after the command name: `[job] [--flags...]`. */
  args: readonly string[];
  /** Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Folder relative paths are resolved from; default `process.cwd()`. */
  cwd?: string;
  /** Default: the built-in jobs. */
  registry?: JobRegistry;
}

/** `--help` was asked for: the job, when one could be named, to describe. */
export interface JobHelpRequest {
  help: true;
  registry: JobRegistry;
  jobClass: JobClass | undefined;
}

/** A job and its validated configuration, ready to run. */
export interface LoadedJobConfig<C = unknown> {
  help: false;
  registry: JobRegistry;
  jobClass: JobClass<C>;
  runtime: RuntimeOptions;
  /** The job's own options, parsed by its `configSchema`. */
  jobConfig: C;
  /** Where each value came from. */
  sources: Record<string, ValueSource>;
  /** The config file, when one was read. */
  file: ConfigFile | undefined;
}

/**
 * Turns `[job] [flags]`, the environment and the config file into a validated job config,
 * flags > env (`S3WORKER_*`) > file > defaults. The job name is the first argument, else
 * `--job`/`S3WORKER_JOB`/`job` in the file; a `handler` module is imported and its jobs
 * registered first. The only I/O is reading the config file (an `s3://` one with the task's
 * credentials) and importing the handler: nothing else touches S3 before the config is valid.
 *
 * @throws ConfigError listing every problem; an S3WorkerError when an s3:// config cannot be read.
 */
export async function loadJobConfig(
  request: JobConfigRequest,
): Promise<JobHelpRequest | LoadedJobConfig> {
  const env = request.env ?? process.env;
  const cwd = request.cwd ?? process.cwd();
  const registry = request.registry ?? (await createJobRegistry());
  const first = request.args[0];
  const jobArg = first !== undefined && !first.startsWith('-') ? first : undefined;
  const rest = jobArg === undefined ? request.args : request.args.slice(1);

  // First pass with the shared options only: where the config, the handler and the job are.
  const runtimeFields = describeFields(runtimeOptionsSchema);
  const pre = parseArgs(rest, runtimeFields);
  const preString = (key: string): string | undefined => {
    const flag = pre.values[key];
    if (typeof flag === 'string') return flag;
    const fromEnv = env[envName(key)];
    return fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined;
  };
  const configLocation = preString('config');
  const file = configLocation
    ? await readConfigFile(configLocation, {
        cwd,
        readS3: (location) => readS3Text(location, pre.values, env),
      })
    : undefined;

  const handlerFromArgs = preString('handler');
  const handlerFromFile =
    typeof file?.values.handler === 'string' ? file.values.handler : undefined;
  let handlerJobs: JobClass[] = [];
  if (handlerFromArgs ?? handlerFromFile) {
    const base = handlerFromArgs ? cwd : (file?.dir ?? cwd);
    handlerJobs = await loadHandler((handlerFromArgs ?? handlerFromFile)!, base);
    for (const job of handlerJobs) registry.register(job);
  }

  const fileJob = typeof file?.values.job === 'string' ? file.values.job : undefined;
  // A handler that exports one job needs no name.
  // The job may also follow options (`run --config c.json stream-transform`).
  const laterJob = jobArg === undefined ? pre.positionals[0] : undefined;
  const jobName =
    jobArg ??
    laterJob ??
    preString('job') ??
    fileJob ??
    (handlerJobs.length === 1 ? handlerJobs[0]!.jobName : undefined);
  if (pre.help) {
    return {
      help: true,
      registry,
      jobClass: jobName ? await registry.get(jobName) : undefined,
    };
  }
  if (!jobName) {
    throw new ConfigError(
      [
        {
          path: 'job',
          message: `no job given; known jobs: ${registry.names().join(', ') || 'none'}`,
        },
      ],
      {
        hint: 'name it first: `s3worker run <job> [options]` (or S3WORKER_JOB, or "job" in the config file)',
      },
    );
  }
  const jobClass = await registry.get(jobName);

  const parsed = parseArgs(rest, [...runtimeFields, ...describeFields(jobClass.configSchema)]);
  const issues: ConfigIssue[] = [...parsed.issues];
  const extras = [...parsed.positionals];
  if (laterJob !== undefined) extras.splice(extras.indexOf(laterJob), 1);
  for (const extra of extras) {
    issues.push({ path: extra, message: 'unexpected argument (options are --name value)' });
  }
  const resolved: ResolvedConfig<{ runtime: RuntimeOptions; job: unknown }> = resolveConfig(
    { runtime: runtimeOptionsSchema, job: jobClass.configSchema },
    {
      flags: { ...parsed.values, ...((jobArg ?? laterJob) ? { job: jobArg ?? laterJob } : {}) },
      env,
      ...(file ? { file: { values: file.values, name: file.name } } : {}),
      issues,
    },
  );
  const runtime: RuntimeOptions = { ...resolved.config.runtime, job: jobName };
  // The job's own defaults of the transfer options, where nothing set them.
  for (const [key, value] of Object.entries(jobClass.transferDefaults ?? {})) {
    if (value !== undefined && resolved.sources[key] === 'default') {
      (runtime as Record<string, unknown>)[key] = value;
    }
  }
  return {
    help: false,
    registry,
    jobClass,
    runtime,
    jobConfig: resolved.config.job,
    sources: resolved.sources,
    file,
  };
}

/** Reads an s3:// config object with the AWS options given so far (flags and env, not the file). */
async function readS3Text(
  location: S3Location,
  flags: Record<string, unknown>,
  env: Record<string, string | undefined>,
): Promise<string> {
  const { config } = resolveConfig({ aws: awsOptionsSchema }, { flags, env });
  const created = await createS3Client({ ...config.aws, maxSockets: 2, env });
  try {
    const out = await created.client.send(
      new GetObjectCommand({ Bucket: location.bucket, Key: location.prefix }),
    );
    return await out.Body!.transformToString('utf8');
  } catch (err) {
    throw explainS3Error(err, {
      action: 'GetObject',
      bucket: location.bucket,
      key: location.prefix,
    });
  } finally {
    created.client.destroy();
  }
}
