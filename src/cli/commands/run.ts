import type { Command } from 'commander';
import { resolveTmpDir } from '../../config/tmp-dir.js';
import { ExitCode, type ExitCodeValue } from '../../errors.js';
import { logRunError } from '../../runtime/log-run-error.js';
import { createLogger } from '../../runtime/logger.js';
import { runJob } from '../../runtime/run-job.js';
import { jobHelp, runHelp } from '../job-help.js';
import { loadJobConfig } from '../load-job-config.js';

/** How long a finished run may take to exit on its own before it is made to. */
const LINGER_MS = 2_000;

/** Registers `s3worker run <job> [options]`; the job's options are parsed from its schema. */
export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .summary('run a job (`s3worker run <job> --help` lists its options)')
    .description('Run a job until it is done, or until SIGTERM/SIGINT and the drain deadline.')
    .usage('<job> [options]')
    // The job's options depend on the job (and on a handler module): parsed by runCommand.
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[job]', 'job name; its options follow')
    .action(async (_job: string | undefined, _options: unknown, command: Command) => {
      const code = await runCommand(command.args);
      process.exitCode = code;
      // Logs are flushed by now; a socket or timer a job forgot must not keep a finished task alive.
      setTimeout(() => process.exit(code), LINGER_MS).unref();
    });
}

/**
 * `s3worker run` without commander: config (flags > env > file > defaults), then the runtime.
 * Returns the process exit code; prints help when asked. A bad config is logged and exits with
 * ExitCode.Config before any S3 request.
 */
export async function runCommand(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ExitCodeValue> {
  // A stop while the config loads (an s3:// file, a handler import) ends the run before it starts.
  let earlySignal: NodeJS.Signals | undefined;
  const onEarlySignal = (signal: NodeJS.Signals) => {
    earlySignal ??= signal;
  };
  process.on('SIGTERM', onEarlySignal).on('SIGINT', onEarlySignal);
  let loaded: Awaited<ReturnType<typeof loadJobConfig>>;
  try {
    loaded = await loadJobConfig({ args, env });
  } catch (error) {
    const log = createLogger();
    const code = (error as { exitCode?: ExitCodeValue }).exitCode ?? ExitCode.Unexpected;
    logRunError(log, error, code);
    await new Promise<void>((resolve) => log.flush(() => resolve()));
    return code;
  } finally {
    process.off('SIGTERM', onEarlySignal).off('SIGINT', onEarlySignal);
  }
  if (loaded.help) {
    process.stdout.write(
      loaded.jobClass ? jobHelp(loaded.jobClass) : runHelp(await loaded.registry.list()),
    );
    return ExitCode.Success;
  }
  const { runtime } = loaded;
  const log = createLogger({
    level: runtime.logLevel,
    ...(runtime.logFormat === 'auto' ? {} : { format: runtime.logFormat }),
  });
  log.debug({ sources: loaded.sources }, 'configuration sources');
  if (earlySignal) {
    log.warn({ signal: earlySignal }, 'stopped before the run started');
    await new Promise<void>((resolve) => log.flush(() => resolve()));
    return ExitCode.Interrupted;
  }
  return runJob({
    jobClass: loaded.jobClass,
    jobConfig: loaded.jobConfig,
    runtime,
    log,
    tmpDir: resolveTmpDir(env),
    env,
  });
}
