import type { Command } from 'commander';
import { pino } from 'pino';
import { awsOptionsSchema } from '../../config/aws-options.js';
import { describeFields } from '../../config/option-fields.js';
import { parseArgs } from '../../config/parse-args.js';
import { resolveConfig } from '../../config/resolve-config.js';
import { doctorOptionsSchema } from '../../doctor/doctor-options.js';
import type { DoctorOptions } from '../../doctor/run-doctor.js';
import { ConfigError, ExitCode, S3WorkerError } from '../../errors.js';
import type { Job } from '../../jobs/job.js';
import { createLogger } from '../../runtime/logger.js';
import { loadJobConfig } from '../load-job-config.js';

/** Flags that name a job (or where its config is), so doctor probes that job's permissions. */
const JOB_FLAGS = ['--handler', '--config', '--job'];
const JOB_ENV = ['S3WORKER_JOB', 'S3WORKER_HANDLER', 'S3WORKER_CONFIG'];

/**
 * `s3worker doctor <job> [job options] [--json]` probes every permission the job declares for
 * that config; `s3worker doctor [--input s3://b/p] [--output s3://b/p] [--json]` probes a plain
 * read and write. Prints the report on stdout (logs go to stderr so `--json` stays parseable)
 * and sets the process exit code: 0 only when no check failed.
 */
export function registerDoctorCommand(program: Command): void {
  const legacy = describeFields(doctorOptionsSchema)
    .filter((f) => ['input', 'output'].includes(f.key))
    .map((f) => `  ${f.flag} <s3 url>  ${f.description ?? ''}`);
  program
    .command('doctor')
    .summary('check the credentials, region and endpoint, and probe each S3 permission a job needs')
    .description(
      [
        'With a job (`s3worker doctor <job> [job options]`, its options given as for `s3worker run <job>`: flags, S3WORKER_* environment, --config, --handler), probe exactly the permissions the job declares for that config: the same list `s3worker policy` turns into a policy. Each probe is allowed by that policy and leaves nothing behind: reads read one byte or HEAD a key that does not exist, writes start a multipart upload and abort it (or, without s3:AbortMultipartUpload, send a write conditional on an ETag no object has), deletes and tagging target a key that does not exist.',
        `Without a job:\n${legacy.join('\n')}`,
        'Also: --json prints the report as JSON. Exit code 0 when no check failed, else the exit code of the first failure (12 access denied...).',
      ].join('\n\n'),
    )
    .usage('[job] [job options] [--json]')
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]', 'the job, then its options')
    .action(async (args: string[]) => {
      process.exitCode = await doctorCommand(args, process.env);
    });
}

/** The command's work, for tests: the arguments after `doctor`; returns the exit code. */
export async function doctorCommand(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  out: (text: string) => void = (text) => process.stdout.write(text),
): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  let options: DoctorOptions;
  let logLevel: string;
  try {
    ({ options, logLevel } = wantsJob(args, env)
      ? await jobDoctorOptions(args, env)
      : plainDoctorOptions(args, env));
  } catch (err) {
    const shown =
      err instanceof ConfigError
        ? new ConfigError(err.issues, {
            hint: 'fix the fields above; `s3worker doctor --help` says how doctor is called',
          })
        : err;
    process.stderr.write(`${shown instanceof S3WorkerError ? shown.describe() : String(shown)}\n`);
    return shown instanceof S3WorkerError ? shown.exitCode : ExitCode.Unexpected;
  }
  const log = createLogger({
    level: logLevel as 'info',
    format: 'json',
    destination: pino.destination({ fd: 2, sync: true }),
  });
  // Imported here: the STS client and the probes cost start-up time every other command saves.
  const { runDoctor } = await import('../../doctor/run-doctor.js');
  const { formatDoctorReport } = await import('../../doctor/format-doctor-report.js');
  const report = await runDoctor({ ...options, log });
  out(json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorReport(report));
  return report.exitCode;
}

function wantsJob(args: readonly string[], env: NodeJS.ProcessEnv): boolean {
  const first = args[0];
  if (first !== undefined && !first.startsWith('-')) return true;
  if (args.some((a) => JOB_FLAGS.some((f) => a === f || a.startsWith(`${f}=`)))) return true;
  return JOB_ENV.some((name) => (env[name] ?? '') !== '');
}

/** A job's config (as `run` reads it) → the permissions it declares, and the run's AWS options. */
async function jobDoctorOptions(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ options: DoctorOptions; logLevel: string }> {
  const loaded = await loadJobConfig({ args, env });
  if (loaded.help) {
    throw new ConfigError([{ path: 'help', message: 'see `s3worker doctor --help`' }]);
  }
  const job = new loaded.jobClass(loaded.jobConfig) as Job;
  const aws = Object.fromEntries(
    Object.keys(awsOptionsSchema.shape).map((k) => [k, (loaded.runtime as never)[k]]),
  );
  return {
    options: { aws: { ...aws, env }, permissions: job.permissions() },
    logLevel: loaded.runtime.logLevel,
  };
}

/** `--input`/`--output` and the AWS options, without a job. */
function plainDoctorOptions(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): { options: DoctorOptions; logLevel: string } {
  const parsed = parseArgs(args, describeFields(doctorOptionsSchema));
  const config = resolveConfig(
    { doctor: doctorOptionsSchema },
    { flags: parsed.values, env, issues: parsed.issues },
  ).config.doctor;
  const { input, output, json: _json, logLevel, ...aws } = config;
  return {
    options: {
      aws: { ...aws, env },
      ...(input ? { input } : {}),
      ...(output ? { output } : {}),
    },
    logLevel,
  };
}
