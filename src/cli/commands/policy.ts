import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { describeFields } from '../../config/option-fields.js';
import { parseArgs } from '../../config/parse-args.js';
import { runtimeOptionsSchema } from '../../config/runtime-options.js';
import { ConfigError, type ConfigIssue, ExitCode, S3WorkerError } from '../../errors.js';
import { buildPolicy } from '../../policy/build-policy.js';
import { checkPolicy } from '../../policy/check-policy.js';
import { formatPolicyCheck } from '../../policy/format-policy-check.js';
import { jobPolicy } from '../../policy/job-policy.js';
import {
  checkNetworkConditions,
  type NetworkConditions,
  networkConditionNotes,
} from '../../policy/network-conditions.js';
import { PolicyCheckExitCode } from '../../policy/policy-check-exit-code.js';
import type { PolicyDocument } from '../../policy/policy-document.js';
import type { SourcedPermission } from '../../policy/policy-needs.js';
import { policyProblems } from '../../policy/policy-problems.js';
import { type ReviewedPolicy, readPolicyInput } from '../../policy/read-policy-input.js';
import { buildTrustPolicy } from '../../policy/trust-policy.js';
import { loadJobConfig } from '../load-job-config.js';

/** Options `policy` itself takes; everything else goes to the job's config, as for `run`. */
export interface PolicyCommandOptions {
  /** Print the ECS task role's trust policy instead of the job's policy. */
  trust?: boolean;
  /** Add the Deny of plain-HTTP requests (`aws:SecureTransport` false). */
  denyInsecureTransport?: boolean;
  /** Account id for the trust policy's `aws:SourceAccount` / `aws:SourceArn`. */
  accountId?: string;
  /** AWS partition of the trust policy's ARNs; default `aws`. */
  partition?: string;
  /** Print each permission and why the job needs it, and what each network condition means, on stderr. */
  explain?: boolean;
  /** Only S3 requests through these VPC endpoints (`aws:SourceVpce`). */
  sourceVpce?: string[];
  /** Only S3 requests through an endpoint of this VPC (`aws:SourceVpc`). */
  sourceVpc?: string;
  /** Only S3 requests from these address ranges (`aws:SourceIp`). */
  sourceIp?: string[];
  /** Review these policy documents (paths, `-` for stdin) against the job's needs instead of printing one. */
  check?: string[];
  /** With `check`: the report as JSON. */
  json?: boolean;
}

/** Where `policyCommand` reads from; tests replace stdin. */
export interface PolicyCommandIo {
  /** Folder `--check` and `--config` paths are resolved from; default `process.cwd()`. */
  cwd?: string;
  /** Reads all of stdin (for `--check -`); default `process.stdin`. */
  readStdin?: () => Promise<string>;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Registers `s3worker policy [job] [job options | --config file...] [--trust | --check file] ...`. */
export function registerPolicyCommand(program: Command): void {
  program
    .command('policy')
    .summary(
      "print the least-privilege IAM policy for a job's config, review an existing one with --check, or print the task role's trust policy",
    )
    .description(
      [
        "Print the IAM policy the job needs with this config, the job's options given as for `s3worker run <job>` (flags, S3WORKER_* environment, --config file, --handler): object actions on bucket/prefix*, s3:ListBucket with an s3:prefix condition, multipart and KMS actions only when the config uses them. Several --config files (one role shared by several tasks) give the union of their needs.",
        "--source-vpce, --source-vpc and --source-ip add aws:SourceVpce, aws:SourceVpc and aws:SourceIp conditions to every S3 Allow statement (KMS statements excepted: S3 calls KMS on the task's behalf without these keys); --explain says when each holds and when it locks the task out. --source-ip does not apply to traffic through a VPC endpoint.",
        `With --check <policy.json | ->, review the policy attached to the task role instead (a document, or the output of aws iam get-role-policy / get-policy-version; repeat --check for each policy of the role): per needed permission whether it is granted (Allow and Deny, wildcards, NotAction/NotResource, s3:prefix and the network and TLS conditions above; any other condition is "cannot tell", never granted), and per statement what it grants beyond the job's needs. Exit codes: ${PolicyCheckExitCode.Fits} fits exactly, ${PolicyCheckExitCode.Broader} broader than needed, ${PolicyCheckExitCode.CannotTell} cannot tell, ${PolicyCheckExitCode.Missing} missing permissions, ${ExitCode.Config} usage or config error.`,
        'With --trust, print the trust policy of the ECS task role instead: ecs-tasks.amazonaws.com may assume it, with aws:SourceAccount and aws:SourceArn conditions (region from --region or S3WORKER_REGION).',
        'Nothing is sent to AWS. The JSON (or the --check report) goes to stdout, errors to stderr.',
      ].join('\n\n'),
    )
    .usage(
      '[job] [job options] [--deny-insecure-transport] [--source-vpce <id>...] [--check <file>... [--json]] [--trust [--account-id <id>]]',
    )
    .option('--trust', "print the ECS task role's trust policy instead")
    .option('--deny-insecure-transport', 'add a Deny of every S3 request made without TLS')
    .option(
      '--source-vpce <id>',
      'allow S3 only through this VPC endpoint (aws:SourceVpce); repeat for several',
      collect,
    )
    .option('--source-vpc <id>', 'allow S3 only through an endpoint of this VPC (aws:SourceVpc)')
    .option(
      '--source-ip <cidr>',
      'allow S3 only from this public address range (aws:SourceIp; not for traffic through a VPC endpoint); repeat for several',
      collect,
    )
    .option(
      '--check <file>',
      "review this IAM policy (a path, or - for stdin) against the job's needs instead of printing one; repeat for each policy of the role",
      collect,
    )
    .option('--json', 'with --check: print the report as JSON')
    .option(
      '--account-id <id>',
      'AWS account id for --trust (default: the <ACCOUNT_ID> placeholder)',
    )
    .option('--partition <name>', 'ARN partition for --trust: aws, aws-cn, aws-us-gov', 'aws')
    .option(
      '--explain',
      'also list each permission and why the job needs it, and what each network condition means, on stderr',
    )
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]', 'the job, then its options')
    .action(async (args: string[], options: PolicyCommandOptions) => {
      process.exitCode = await policyCommand(args, options);
    });
}

/**
 * `s3worker policy` without commander: prints the policy document (or, with `check`, the review
 * of existing ones) and returns the exit code. A bad config is reported on stderr with
 * ExitCode.Config, like `run`; a review returns its own codes (PolicyCheckExitCode).
 */
export async function policyCommand(
  args: readonly string[],
  options: PolicyCommandOptions,
  env: NodeJS.ProcessEnv = process.env,
  io: PolicyCommandIo = {},
): Promise<number> {
  try {
    checkCombination(options);
    if (options.trust) {
      const region =
        parseArgs(args, describeFields(runtimeOptionsSchema)).values.region ?? env.S3WORKER_REGION;
      const doc = buildTrustPolicy({
        accountId: options.accountId,
        region: typeof region === 'string' && region !== '' ? region : undefined,
        partition: options.partition,
      });
      check(doc, 'trust');
      process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      return ExitCode.Success;
    }
    const network: NetworkConditions = {
      sourceVpce: options.sourceVpce,
      sourceVpc: options.sourceVpc,
      sourceIp: options.sourceIp,
    };
    const checkedNetwork = checkNetworkConditions(network);
    const permissions = await jobsPermissions(args, env, io.cwd);
    if (permissions === undefined) {
      process.stderr.write('`s3worker run <job> --help` lists the options of a job\n');
      return ExitCode.Success;
    }
    if (options.explain) {
      for (const p of permissions) {
        const where = p.bucket ? `s3://${p.bucket}/${p.prefix ?? ''}` : (p.resource ?? '*');
        const from = p.from === undefined ? '' : ` [${p.from}]`;
        process.stderr.write(`${p.action} on ${where}: ${p.reason}${from}\n`);
      }
      for (const note of networkConditionNotes(checkedNetwork)) process.stderr.write(`${note}\n`);
    }
    const buildOptions = {
      denyInsecureTransport: options.denyInsecureTransport === true,
      network,
    };
    if (options.check !== undefined && options.check.length > 0) {
      const policies = await readPolicies(options.check, io);
      const report = checkPolicy(permissions, policies, buildOptions);
      process.stdout.write(
        options.json ? `${JSON.stringify(report, null, 2)}\n` : formatPolicyCheck(report),
      );
      return report.exitCode;
    }
    const policy = buildPolicy(permissions, buildOptions);
    check(policy, 'identity');
    process.stdout.write(`${JSON.stringify(policy, null, 2)}\n`);
    return ExitCode.Success;
  } catch (err) {
    const text =
      err instanceof S3WorkerError ? err.describe() : String((err as Error)?.stack ?? err);
    process.stderr.write(`s3worker policy: ${text}\n`);
    return (err as { exitCode?: number }).exitCode ?? ExitCode.Unexpected;
  }
}

/** Options that mean nothing together are refused rather than ignored. */
function checkCombination(options: PolicyCommandOptions): void {
  const issues: ConfigIssue[] = [];
  if (options.trust) {
    const identityOnly = {
      '--check': options.check !== undefined,
      '--source-vpce': options.sourceVpce !== undefined,
      '--source-vpc': options.sourceVpc !== undefined,
      '--source-ip': options.sourceIp !== undefined,
      '--deny-insecure-transport': options.denyInsecureTransport === true,
    };
    for (const [flag, given] of Object.entries(identityOnly)) {
      if (given)
        issues.push({ path: flag, message: "applies to the job's policy, not to --trust" });
    }
  }
  if (options.json && options.check === undefined)
    issues.push({
      path: '--json',
      message: 'applies to --check only (the policy is JSON already)',
    });
  if ((options.check ?? []).filter((c) => c === '-').length > 1)
    issues.push({ path: '--check', message: 'stdin (-) can be read once only' });
  if (issues.length > 0)
    throw new ConfigError(issues, { hint: '`s3worker policy --help` describes the options' });
}

/**
 * The permissions of the job, or of each job when several `--config` files are given (a role
 * shared by several tasks): each file is loaded with the other arguments, and its permissions
 * labelled with its name. Undefined when `--help` was asked for.
 */
async function jobsPermissions(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string | undefined,
): Promise<SourcedPermission[] | undefined> {
  const { configs, rest } = splitConfigs(args);
  const runs = configs.length > 1 ? configs.map((c) => [...rest, '--config', c]) : [args];
  const out: SourcedPermission[] = [];
  for (const [i, runArgs] of runs.entries()) {
    const loaded = await loadJobConfig({ args: runArgs, env, ...(cwd ? { cwd } : {}) });
    if (loaded.help) return undefined;
    const from = configs.length > 1 ? configs[i] : undefined;
    const { permissions } = jobPolicy(loaded.jobClass, loaded.jobConfig);
    out.push(...permissions.map((p) => ({ ...p, from })));
  }
  return out;
}

/** Takes every `--config <file>` / `--config=<file>` out of `args`. */
function splitConfigs(args: readonly string[]): { configs: string[]; rest: string[] } {
  const configs: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      rest.push(...args.slice(i));
      break;
    }
    if (arg.startsWith('--config=')) configs.push(arg.slice('--config='.length));
    else if (arg === '--config' && i + 1 < args.length) configs.push(args[++i]!);
    else rest.push(arg);
  }
  return { configs, rest };
}

/** Reads each `--check` document (a path, or `-` for stdin). */
async function readPolicies(
  sources: readonly string[],
  io: PolicyCommandIo,
): Promise<ReviewedPolicy[]> {
  const out: ReviewedPolicy[] = [];
  for (const source of sources) {
    let text: string;
    if (source === '-') text = await (io.readStdin ?? readStdin)();
    else {
      try {
        text = await readFile(resolve(io.cwd ?? process.cwd(), source), 'utf8');
      } catch (err) {
        throw new ConfigError(
          [{ path: '--check', message: `cannot read ${source}: ${(err as Error).message}` }],
          { cause: err, hint: 'give --check a readable JSON file, or - to read stdin' },
        );
      }
    }
    out.push(readPolicyInput(text, source === '-' ? 'stdin' : source));
  }
  return out;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A generated document that IAM would refuse is a bug here, not the user's: say so. */
function check(doc: PolicyDocument, kind: 'identity' | 'trust'): void {
  const problems = policyProblems(doc, kind);
  if (problems.length > 0) {
    throw new S3WorkerError(`generated an invalid ${kind} policy: ${problems.join('; ')}`, {
      code: 'POLICY_INVALID',
      hint: 'please report this with the job and config that produced it',
    });
  }
}
