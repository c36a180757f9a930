#!/usr/bin/env -S node --max-semi-space-size=3
// The small V8 young generation above keeps a long copy's peak RSS low and flat: network chunks
// are collected young instead of piling up in the old generation, whose growth otherwise makes
// a long copy peak higher than a short one. Measured copying 1 GiB and 4 GiB with defaults:
// 3 MB gave 200-208 and 211-213 MiB (flat within 4%); 2 MB 170-180 and 206-209 MiB (the short
// copy ends before the old generation peaks: 1.2x); 4 MB 192-202 and 210-217 MiB; 8 MB 246 MiB
// at 1 GiB; V8's default about 300 MiB at 4 GiB. The bench reads these flags from this line so
// it measures what the `s3worker` bin runs.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ExitCode, S3WorkerError } from '../errors.js';
import { registerDoctorCommand } from './commands/doctor.js';
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
    "Run S3 batch jobs as AWS ECS tasks with the task role's credentials (built in: stream-transform, ship-logs, db-backup, db-restore; `s3worker jobs` describes them).",
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
