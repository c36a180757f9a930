import type { Command } from 'commander';
import { pino } from 'pino';
import { coerceText } from '../../config/coerce-text.js';
import { describeFields } from '../../config/option-fields.js';
import { resolveConfig } from '../../config/resolve-config.js';
import { doctorOptionsSchema } from '../../doctor/doctor-options.js';
import { formatDoctorReport } from '../../doctor/format-doctor-report.js';
import { runDoctor } from '../../doctor/run-doctor.js';
import { ConfigError, type ConfigIssue, ExitCode, S3WorkerError } from '../../errors.js';
import { createLogger } from '../../runtime/logger.js';

/**
 * `s3worker doctor [--input s3://b/p] [--output s3://b/p] [--json]` plus the shared AWS flags.
 * Prints the report on stdout (logs go to stderr so `--json` stays parseable) and sets the
 * process exit code: 0 only when every check passed.
 */
export function registerDoctorCommand(program: Command): void {
  const fields = describeFields(doctorOptionsSchema);
  const command = program
    .command('doctor')
    .description(
      'check the credentials, region and endpoint, and probe each S3 permission a job needs on its input and output',
    );
  for (const f of fields) {
    const help = `${f.description ?? ''}${f.choices ? ` (${f.choices.join(', ')})` : ''} [env ${f.env}]`;
    if (f.kind === 'boolean') {
      command.option(f.flag, help);
      if (f.defaultValue !== true) command.option(`--no-${f.flag.slice(2)}`, `unset ${f.flag}`);
    } else {
      command.option(`${f.flag} <value>`, help);
    }
  }
  command.action(async (opts: Record<string, unknown>) => {
    process.exitCode = await doctorCommand(opts, process.env);
  });
}

/** The command's work, for tests: options as commander parsed them; returns the exit code. */
export async function doctorCommand(
  opts: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  out: (text: string) => void = (text) => process.stdout.write(text),
): Promise<number> {
  const issues: ConfigIssue[] = [];
  const flags: Record<string, unknown> = {};
  for (const f of describeFields(doctorOptionsSchema)) {
    const value = opts[f.key];
    if (value === undefined) continue;
    if (typeof value !== 'string') {
      flags[f.key] = value;
      continue;
    }
    const coerced = coerceText(f.kind, value);
    if (coerced.ok) flags[f.key] = coerced.value;
    else issues.push({ path: f.flag, message: coerced.message });
  }
  let config: ReturnType<typeof doctorOptionsSchema.parse>;
  try {
    config = resolveConfig({ doctor: doctorOptionsSchema }, { flags, env, issues }).config.doctor;
  } catch (err) {
    const shown =
      err instanceof ConfigError
        ? new ConfigError(err.issues, {
            hint: 'fix the fields above; `s3worker doctor --help` lists every option',
          })
        : err;
    process.stderr.write(`${shown instanceof S3WorkerError ? shown.describe() : String(shown)}\n`);
    return shown instanceof S3WorkerError ? shown.exitCode : ExitCode.Unexpected;
  }
  const log = createLogger({
    level: config.logLevel,
    format: 'json',
    destination: pino.destination({ fd: 2, sync: true }),
  });
  const { input, output, json, logLevel: _level, ...aws } = config;
  const report = await runDoctor({
    aws: { ...aws, env },
    ...(input ? { input } : {}),
    ...(output ? { output } : {}),
    log,
  });
  out(json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorReport(report));
  return report.exitCode;
}
