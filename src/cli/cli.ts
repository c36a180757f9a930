// The CLI itself: every command, registered on one commander program, parsed and run. Loaded by
// main.ts once the compile cache is on.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ExitCode, S3WorkerError } from '../errors.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerEnqueueCommand } from './commands/enqueue.js';
import { registerHealthcheckCommand } from './commands/healthcheck.js';
import { registerJobsCommand } from './commands/jobs.js';
import { registerPolicyCommand } from './commands/policy.js';
import { registerRunCommand } from './commands/run.js';

/**
 * Every command of the CLI, one registration each (`registerXCommand(program)` in
 * `commands/x.ts`). A command's action sets `process.exitCode` (see ExitCode in errors.ts).
 */
const COMMANDS: ReadonlyArray<(program: Command) => void> = [
  registerRunCommand,
  registerEnqueueCommand,
  registerJobsCommand,
  registerPolicyCommand,
  registerHealthcheckCommand,
  registerDoctorCommand,
];

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command('s3worker')
  .description(
    "Run S3 batch jobs as AWS ECS tasks with the task role's credentials (built in: stream-transform, ship-logs, db-backup, db-restore, enqueue; `s3worker jobs` describes them).",
  )
  .version(pkg.version, '-V, --version', 'print the version')
  .helpOption('-h, --help', 'show help')
  .helpCommand(false)
  // Options after a command name belong to that command (`run <job> --help` is the job's help).
  .enablePositionalOptions()
  .showHelpAfterError('(`s3worker --help` lists the commands)')
  .exitOverride();
for (const register of COMMANDS) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and --version "fail" with exit code 0; anything commander refuses is a usage error.
    process.exitCode = err.exitCode === 0 ? ExitCode.Success : ExitCode.Config;
  } else if (err instanceof S3WorkerError) {
    // A command that threw one of ours (a bad --handler for `jobs`...): its message, hint and code.
    process.stderr.write(`s3worker: ${err.describe()}\n`);
    process.exitCode = err.exitCode;
  } else {
    throw err;
  }
}
