import { Command, Option } from 'commander';
import { describeFields, formatDefault, type OptionField } from '../config/option-fields.js';
import { runtimeOptionsSchema } from '../config/runtime-options.js';
import type { JobClass } from '../jobs/job.js';

/** Placeholder shown after a flag that takes a value, by kind. */
const VALUE_NAME: Record<OptionField['kind'], string> = {
  string: '<value>',
  number: '<n>',
  boolean: '',
  enum: '<choice>',
  array: '<value>',
  record: '<key=value>',
  size: '<size>',
  duration: '<duration>',
};

/**
 * The commander Option that documents one config field: flag, value name, description, then
 * choices, default and environment variable. The same text `--help` shows and the docs' option tables are generated from.
 */
export function fieldOption(field: OptionField, group: string): Option[] {
  const notes: string[] = [];
  if (field.choices) notes.push(`choices: ${field.choices.join(', ')}`);
  if (field.kind === 'array' || field.kind === 'record') notes.push('repeatable');
  if (field.required) notes.push('required');
  if (field.defaultText !== undefined) notes.push(`default: ${field.defaultText}`);
  const envForm = { array: ' (comma-separated)', record: ' (k=v,k2=v2)' } as Record<string, string>;
  notes.push(`env: ${field.env}${envForm[field.kind] ?? ''}`);
  const text = `${field.description ?? ''} (${notes.join('; ')})`.trim();
  const flags = field.kind === 'boolean' ? field.flag : `${field.flag} ${VALUE_NAME[field.kind]}`;
  const options = [new Option(flags, text).helpGroup(group)];
  if (field.kind === 'boolean') {
    options.push(
      new Option(`--no-${field.flag.slice(2)}`, `turn ${field.flag} off`).helpGroup(group),
    );
  }
  return options;
}

/**
 * `s3worker run <job> --help`: the job's description, its options, then the shared options.
 * `command` names the command in the usage line (`s3worker enqueue` for the alias of a job).
 */
export function jobHelp(job: JobClass, command = `s3worker run ${job.jobName}`): string {
  const cmd = new Command(command)
    .usage('[options]')
    .description(job.description)
    .helpOption('-h, --help', 'show this help');
  for (const field of describeFields(job.configSchema)) {
    for (const o of fieldOption(field, `Options of ${job.jobName}:`)) cmd.addOption(o);
  }
  addRuntimeOptions(cmd);
  const own = ownDefaults(job);
  return `${cmd.helpInformation()}\n${own}${SOURCES_NOTE}\n`;
}

/** The job's own defaults of shared options (`transferDefaults`), as a note; empty without any. */
function ownDefaults(job: JobClass): string {
  const fields = new Map(describeFields(runtimeOptionsSchema).map((f) => [f.key, f]));
  const parts: string[] = [];
  for (const [key, value] of Object.entries(job.transferDefaults ?? {})) {
    const field = fields.get(key);
    if (field !== undefined && value !== undefined) {
      parts.push(`${field.flag} ${formatDefault(field.kind, value)}`);
    }
  }
  return parts.length === 0
    ? ''
    : `Defaults of ${job.jobName} that differ from the shared ones above: ${parts.join(', ')}.\n\n`;
}

const SOURCES_NOTE = [
  'Values: flags > environment (S3WORKER_*) > config file (--config: JSON, keys in camelCase',
  'as partSize) > defaults. Sizes: 8MiB, 5MB or bytes. Durations: 500ms, 25s, 10m, 24h.',
].join('\n');

/** `s3worker run --help` without a job: usage, the jobs (all of the registry's), and the shared options. */
export function runHelp(jobClasses: readonly JobClass[]): string {
  const cmd = new Command('s3worker run')
    .usage('<job> [options]')
    .description('Run a job. `s3worker run <job> --help` lists the options of that job.')
    .helpOption('-h, --help', 'show this help');
  const jobs = jobClasses.map((j) => `  ${j.jobName.padEnd(20)} ${j.description}`).join('\n');
  addRuntimeOptions(cmd);
  return `${cmd.helpInformation()}\nJobs:\n${jobs || '  (none)'}\n\n${SOURCES_NOTE}\n`;
}

function addRuntimeOptions(cmd: Command): void {
  for (const field of describeFields(runtimeOptionsSchema)) {
    for (const o of fieldOption(field, 'Runtime and AWS options (every job):')) cmd.addOption(o);
  }
}
