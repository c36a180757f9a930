import type { Command } from 'commander';
import { loadHandler } from '../../jobs/load-handler.js';
import { createJobRegistry } from '../../jobs/registry.js';

/** Registers `s3worker jobs`: each job with its one-line description. */
export function registerJobsCommand(program: Command): void {
  program
    .command('jobs')
    .summary('list the jobs')
    .description(
      'List the jobs `s3worker run` can run, with a line each. `s3worker run <job> --help` lists the options of one.',
    )
    .option('--handler <path>', 'also list the jobs a module of your own exports')
    .option('--json', 'print JSON: [{ name, description }]')
    .action(async (options: { handler?: string; json?: boolean }) => {
      const registry = await createJobRegistry();
      if (options.handler) {
        for (const job of await loadHandler(options.handler, process.cwd())) registry.register(job);
      }
      const jobs = await registry.list();
      if (options.json) {
        const list = jobs.map((j) => ({ name: j.jobName, description: j.description }));
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      const width = Math.max(4, ...jobs.map((j) => j.jobName.length)) + 2;
      const lines = jobs.map((j) => `${j.jobName.padEnd(width)}${j.description}`);
      process.stdout.write(
        `${lines.join('\n')}\n\n\`s3worker run <job> --help\` lists the options of a job.\n`,
      );
    });
}
