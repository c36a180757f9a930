import type { Command } from 'commander';
import { createJobRegistry } from '../../jobs/registry.js';
import { jobHelp } from '../job-help.js';
import { runCommand } from './run.js';

/** How long a finished run may take to exit on its own before it is made to (as `run`). */
const LINGER_MS = 2_000;

/**
 * Registers `s3worker enqueue [options]`, the same as `s3worker run enqueue [options]`: the
 * enqueue job's options, environment and config file, its `--help`, exit codes and summary.
 */
export function registerEnqueueCommand(program: Command): void {
  program
    .command('enqueue')
    .summary(
      'send one S3 event message per object to an SQS queue for queue-mode workers (= `run enqueue`)',
    )
    .description(
      'The enqueue job, as `s3worker run enqueue`: `s3worker enqueue --help` lists its options.',
    )
    .usage(
      '--queue <url> --input s3://bucket/prefix [--checkpoint s3://bucket/key | path] [options]',
    )
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_options: unknown, command: Command) => {
      if (command.args.includes('--help') || command.args.includes('-h')) {
        const job = await (await createJobRegistry()).get('enqueue');
        process.stdout.write(jobHelp(job, 's3worker enqueue'));
        return;
      }
      const code = await runCommand(['enqueue', ...command.args]);
      process.exitCode = code;
      setTimeout(() => process.exit(code), LINGER_MS).unref();
    });
}
