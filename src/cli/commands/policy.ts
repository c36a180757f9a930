import type { Command } from 'commander';
import { describeFields } from '../../config/option-fields.js';
import { parseArgs } from '../../config/parse-args.js';
import { runtimeOptionsSchema } from '../../config/runtime-options.js';
import { ExitCode, type ExitCodeValue, S3WorkerError } from '../../errors.js';
import { jobPolicy } from '../../policy/job-policy.js';
import type { PolicyDocument } from '../../policy/policy-document.js';
import { policyProblems } from '../../policy/policy-problems.js';
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
  /** Print each permission and why the job needs it on stderr. */
  explain?: boolean;
}

/** Registers `s3worker policy [job] [job options | --config file] [--trust] ...`. */
export function registerPolicyCommand(program: Command): void {
  program
    .command('policy')
    .summary(
      "print the least-privilege IAM policy for a job's config, or the task role's trust policy",
    )
    .description(
      [
        "Print the IAM policy the job needs with this config, the job's options given as for `s3worker run <job>` (flags, S3WORKER_* environment, --config file, --handler): object actions on bucket/prefix*, s3:ListBucket with an s3:prefix condition, multipart and KMS actions only when the config uses them.",
        'With --trust, print the trust policy of the ECS task role instead: ecs-tasks.amazonaws.com may assume it, with aws:SourceAccount and aws:SourceArn conditions (region from --region or S3WORKER_REGION).',
        'Nothing is sent to AWS. The JSON goes to stdout, errors to stderr.',
      ].join('\n\n'),
    )
    .usage('[job] [job options] [--trust] [--deny-insecure-transport] [--account-id <id>]')
    .option('--trust', "print the ECS task role's trust policy instead")
    .option('--deny-insecure-transport', 'add a Deny of every S3 request made without TLS')
    .option(
      '--account-id <id>',
      'AWS account id for --trust (default: the <ACCOUNT_ID> placeholder)',
    )
    .option('--partition <name>', 'ARN partition for --trust: aws, aws-cn, aws-us-gov', 'aws')
    .option('--explain', 'also list each permission and why the job needs it, on stderr')
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]', 'the job, then its options')
    .action(async (args: string[], options: PolicyCommandOptions) => {
      process.exitCode = await policyCommand(args, options);
    });
}

/**
 * `s3worker policy` without commander: prints the policy document and returns the exit code.
 * A bad config is reported on stderr with ExitCode.Config, like `run`.
 */
export async function policyCommand(
  args: readonly string[],
  options: PolicyCommandOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ExitCodeValue> {
  try {
    let doc: PolicyDocument;
    if (options.trust) {
      const region =
        parseArgs(args, describeFields(runtimeOptionsSchema)).values.region ?? env.S3WORKER_REGION;
      doc = buildTrustPolicy({
        accountId: options.accountId,
        region: typeof region === 'string' && region !== '' ? region : undefined,
        partition: options.partition,
      });
      check(doc, 'trust');
    } else {
      const loaded = await loadJobConfig({ args, env });
      if (loaded.help) {
        process.stderr.write('`s3worker run <job> --help` lists the options of a job\n');
        return ExitCode.Success;
      }
      const { policy, permissions } = jobPolicy(loaded.jobClass, loaded.jobConfig, {
        denyInsecureTransport: options.denyInsecureTransport === true,
      });
      check(policy, 'identity');
      if (options.explain) {
        for (const p of permissions) {
          const where = p.bucket ? `s3://${p.bucket}/${p.prefix ?? ''}` : (p.resource ?? '*');
          process.stderr.write(`${p.action} on ${where}: ${p.reason}\n`);
        }
      }
      doc = policy;
    }
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return ExitCode.Success;
  } catch (err) {
    const text =
      err instanceof S3WorkerError ? err.describe() : String((err as Error)?.stack ?? err);
    process.stderr.write(`s3worker policy: ${text}\n`);
    return (err as { exitCode?: ExitCodeValue }).exitCode ?? ExitCode.Unexpected;
  }
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
