import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { Logger } from 'pino';
import type { S3Location } from '../config/s3-location.js';
import { ExitCode, S3WorkerError } from '../errors.js';
import type { Permission } from '../jobs/permissions.js';
import { type CreatedS3Client, createS3Client, type S3ClientFactoryOptions } from '../s3/client.js';
import { explainS3Error } from '../s3/explain-error.js';
import type { DoctorCheck, DoctorReport } from './doctor-report.js';
import { probePermissions } from './permission-probes.js';
import { Prober } from './prober.js';

export type { DoctorCheck, DoctorReport, Verdict } from './doctor-report.js';

/** What `doctor` checks and with which client settings. */
export interface DoctorOptions {
  /** Client options (region, endpoint, credentials source, env...), as for `createS3Client`. */
  aws?: S3ClientFactoryOptions;
  /** The permissions to probe: a job's `permissions()` for its config. */
  permissions?: Permission[];
  /** Without a job: where it reads (ListBucket on the prefix, GetObject of one object). */
  input?: S3Location;
  /** Without a job: where it writes (a multipart upload started and aborted). */
  output?: S3Location;
  log?: Logger;
  /** Per-request timeout of each probe, ms. Default 15 000. */
  probeTimeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Answers "does this task have the permissions its job needs?": resolves the credentials (source,
 * expiry), region, endpoint and, where the service can tell, the caller identity; then probes each
 * permission on the given locations. Probes write only under the output prefix, to keys named
 * `<prefix>.s3worker-doctor-<random>`, and remove what they create; what cannot be removed is
 * listed in `leftovers`.
 */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const leftovers: string[] = [];
  let created: CreatedS3Client;
  try {
    created = await createS3Client({
      ...options.aws,
      ...(options.log ? { log: options.log } : {}),
    });
  } catch (err) {
    const e = explainS3Error(err, { action: 'credentials' });
    checks.push({
      name: 'resolve credentials',
      permission: '-',
      target: options.aws?.credentials ?? 'auto',
      verdict: 'fail',
      detail: e.message,
      code: e.code,
      exitCode: e.exitCode,
      ...(e.hint ? { fix: e.hint } : {}),
    });
    return finish({ identity: { unavailable: 'no credentials' }, checks, leftovers });
  }

  const { client } = created;
  try {
    checks.push({
      name: 'resolve credentials',
      permission: '-',
      target: created.credentials.source,
      verdict: 'pass',
      detail: created.credentials.expiration
        ? `${created.credentials.source}, expires ${created.credentials.expiration.toISOString()}`
        : `${created.credentials.source}, no expiry`,
    });
    const probe = new Prober(client, options.probeTimeoutMs ?? 15_000, options.signal, checks);
    const identity = await callerIdentity(created, options);
    const perms = [
      ...(options.permissions ?? []),
      ...locationPermissions(options.input, options.output),
    ];
    await probePermissions(probe, perms, leftovers);
    return finish({
      credentials: {
        source: created.credentials.source,
        ...(created.credentials.expiration
          ? { expiration: created.credentials.expiration.toISOString() }
          : {}),
      },
      region: created.region,
      ...(created.endpoint ? { endpoint: created.endpoint } : {}),
      identity,
      checks,
      leftovers,
    });
  } finally {
    client.destroy();
  }
}

function finish(report: Omit<DoctorReport, 'ok' | 'exitCode'>): DoctorReport {
  const failed = report.checks.find((c) => c.verdict === 'fail');
  return {
    ok: failed === undefined,
    exitCode: failed ? (failed.exitCode ?? ExitCode.Unexpected) : ExitCode.Success,
    ...report,
  };
}

/** What a job reading `input` and writing `output` needs, for `doctor --input/--output` without a job. */
export function locationPermissions(input?: S3Location, output?: S3Location): Permission[] {
  const perms: Permission[] = [];
  if (input) {
    perms.push(
      { action: 's3:ListBucket', ...input, reason: 'list input' },
      { action: 's3:GetObject', ...input, reason: 'read an input object' },
    );
  }
  if (output) {
    perms.push(
      { action: 's3:PutObject', ...output, reason: 'write outputs' },
      { action: 's3:AbortMultipartUpload', ...output, reason: 'abort failed uploads' },
    );
  }
  return perms;
}

/** STS GetCallerIdentity with the same credentials; S3-compatible stores often lack it. */
async function callerIdentity(
  created: CreatedS3Client,
  options: DoctorOptions,
): Promise<DoctorReport['identity']> {
  const sts = new STSClient({
    region: created.region,
    ...(created.endpoint ? { endpoint: created.endpoint } : {}),
    credentials: created.client.config.credentials,
    maxAttempts: 1,
  });
  try {
    const out = await sts.send(new GetCallerIdentityCommand({}), {
      abortSignal: AbortSignal.timeout(options.probeTimeoutMs ?? 15_000),
    });
    return {
      ...(out.Arn ? { arn: out.Arn } : {}),
      ...(out.Account ? { account: out.Account } : {}),
      ...(out.UserId ? { userId: out.UserId } : {}),
    };
  } catch (err) {
    const e = err as { code?: string; name?: string };
    // A network error's name is just "Error"; its code (ECONNREFUSED...) says more.
    const code = err instanceof S3WorkerError ? err.code : (e.code ?? e.name ?? 'error');
    options.log?.debug({ code }, 'caller identity not available');
    return { unavailable: `not available from this endpoint (${code})` };
  } finally {
    sts.destroy();
  }
}
