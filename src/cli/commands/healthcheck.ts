import { type Command, Option } from 'commander';
import { parseDuration } from '../../config/duration-schema.js';
import { resolveTmpDir } from '../../config/tmp-dir.js';
import { checkHealth, DEFAULT_HEALTHCHECK_MAX_AGE_MS } from '../../runtime/healthcheck.js';

/**
 * `s3worker healthcheck`: the container health check (Dockerfile HEALTHCHECK, ECS healthCheck).
 * Exit 0 while the worker in this container made progress within `--max-age` (or is done), 1
 * otherwise — never 2, which Docker reserves — with one line saying why.
 */
export function registerHealthcheckCommand(program: Command): void {
  program
    .command('healthcheck')
    .summary("container health check: exit 0 while this container's worker makes progress")
    .description(
      'exit 0 while the worker in this container makes progress (or is done), 1 otherwise; reads the status file in S3WORKER_TMPDIR',
    )
    .addOption(
      new Option('--max-age <duration>', 'how long without a progress tick counts as stuck')
        .env('S3WORKER_HEALTHCHECK_MAX_AGE')
        .default('5m'),
    )
    .addOption(
      new Option(
        '--tmp-dir <dir>',
        "folder of the worker's status file (default: the OS temp dir)",
      ).env('S3WORKER_TMPDIR'),
    )
    .action(async (opts: { maxAge: string; tmpDir?: string }) => {
      let maxAgeMs = DEFAULT_HEALTHCHECK_MAX_AGE_MS;
      try {
        maxAgeMs = parseDuration(opts.maxAge);
      } catch (err) {
        process.stdout.write(
          `unhealthy: --max-age / S3WORKER_HEALTHCHECK_MAX_AGE: ${(err as Error).message}\n`,
        );
        process.exitCode = 1;
        return;
      }
      const dir = opts.tmpDir ?? resolveTmpDir({});
      const verdict = await checkHealth({ dir, maxAgeMs });
      process.stdout.write(`${verdict.healthy ? 'healthy' : 'unhealthy'}: ${verdict.reason}\n`);
      process.exitCode = verdict.healthy ? 0 : 1;
    });
}
