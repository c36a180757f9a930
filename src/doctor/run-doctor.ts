import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { Logger } from 'pino';
import type { S3Location } from '../config/s3-location.js';
import { ExitCode, type ExitCodeValue, S3WorkerError } from '../errors.js';
import { type CreatedS3Client, createS3Client, type S3ClientFactoryOptions } from '../s3/client.js';
import { explainS3Error } from '../s3/explain-error.js';

/** What `doctor` checks and with which client settings. */
export interface DoctorOptions {
  /** Client options (region, endpoint, credentials source, env...), as for `createS3Client`. */
  aws?: S3ClientFactoryOptions;
  /** Where the job reads: probes ListBucket on the prefix and GetObject of one object. */
  input?: S3Location;
  /** Where the job writes: probes PutObject + DeleteObject of a probe object and CreateMultipartUpload + AbortMultipartUpload. */
  output?: S3Location;
  log?: Logger;
  /** Per-request timeout of each probe, ms. Default 15 000. */
  probeTimeoutMs?: number;
  signal?: AbortSignal;
}

export type Verdict = 'pass' | 'fail' | 'skip';

/** One line of the doctor's table. */
export interface DoctorCheck {
  /** What was tried, in words: `list input`, `write a probe object`... */
  name: string;
  /** The IAM permission the probe exercises, e.g. `s3:ListBucket`. */
  permission: string;
  /** `s3://bucket/key` (or prefix) it was tried on. */
  target: string;
  verdict: Verdict;
  /** What happened, one line. */
  detail: string;
  /** The error code on failure (`ACCESS_DENIED`...). */
  code?: string;
  /** What to do about a failure: for a denial, the policy statement that allows it. */
  fix?: string;
  exitCode?: ExitCodeValue;
}

export interface DoctorReport {
  /** True when every check passed (skips that follow a failure do not count as passes). */
  ok: boolean;
  /** 0 when ok; else the exit code of the first failure. */
  exitCode: ExitCodeValue;
  credentials?: { source: string; expiration?: string };
  region?: string;
  endpoint?: string;
  /** Who the credentials are, when the service can tell (STS GetCallerIdentity). */
  identity: { arn?: string; account?: string; userId?: string } | { unavailable: string };
  checks: DoctorCheck[];
  /** Probe objects or uploads that could not be removed (their removal was denied). */
  leftovers: string[];
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
    if (options.input) await probeInput(probe, options.input);
    if (options.output) await probeOutput(probe, options.output, leftovers);
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

/** Runs one probe, turning its outcome into a check. */
class Prober {
  constructor(
    private readonly client: S3Client,
    private readonly timeoutMs: number,
    private readonly signal: AbortSignal | undefined,
    private readonly checks: DoctorCheck[],
  ) {}

  get s3(): S3Client {
    return this.client;
  }

  /** Per-request signal: the caller's, bounded by the probe timeout. */
  abortSignal(): AbortSignal {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return this.signal ? AbortSignal.any([this.signal, timeout]) : timeout;
  }

  skip(name: string, permission: string, target: string, detail: string): void {
    this.checks.push({ name, permission, target, verdict: 'skip', detail });
  }

  /**
   * Runs `fn`; a throw becomes a failed check (explained), a return a passed one with the
   * returned detail. Resolves to whether it passed.
   */
  async run(
    name: string,
    permission: string,
    where: { bucket: string; key: string },
    fn: () => Promise<string>,
  ): Promise<boolean> {
    const target = `s3://${where.bucket}/${where.key}`;
    try {
      const detail = await fn();
      this.checks.push({ name, permission, target, verdict: 'pass', detail });
      return true;
    } catch (err) {
      const e = explainS3Error(err, { action: permission, bucket: where.bucket, key: where.key });
      this.checks.push({
        name,
        permission,
        target,
        verdict: 'fail',
        detail: e.message,
        code: e.code,
        exitCode: e.exitCode,
        ...(e.hint ? { fix: e.hint } : {}),
      });
      return false;
    }
  }
}

async function probeInput(probe: Prober, input: S3Location): Promise<void> {
  const { bucket, prefix } = input;
  let firstKey: { key: string; size: number } | undefined;
  const listed = await probe.run(
    'list input',
    's3:ListBucket',
    { bucket, key: prefix },
    async () => {
      const out = await probe.s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }),
        { abortSignal: probe.abortSignal() },
      );
      const first = out.Contents?.[0];
      if (first?.Key) firstKey = { key: first.Key, size: first.Size ?? 0 };
      return first?.Key ? 'allowed; found at least one object' : 'allowed; the prefix is empty';
    },
  );
  if (!listed) {
    probe.skip(
      'read an input object',
      's3:GetObject',
      `s3://${bucket}/${prefix}`,
      'skipped: listing failed, so no object to read',
    );
    return;
  }
  if (firstKey) {
    const { key, size } = firstKey;
    await probe.run('read an input object', 's3:GetObject', { bucket, key }, async () => {
      const out = await probe.s3.send(
        // One byte is enough to prove the permission (and KMS decrypt, for SSE-KMS objects).
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          ...(size > 0 ? { Range: 'bytes=0-0' } : {}),
        }),
        { abortSignal: probe.abortSignal() },
      );
      // Read the body so its socket goes back to the pool.
      await out.Body?.transformToByteArray();
      return 'allowed; read the first byte';
    });
    return;
  }
  // Nothing to read: a HEAD of a key that cannot exist answers 404 when GetObject is allowed
  // (ListBucket was allowed above, so S3 does not hide the 404 behind a 403).
  const key = `${prefix}.s3worker-doctor-${randomBytes(6).toString('hex')}`;
  await probe.run('read an input object', 's3:GetObject', { bucket, key }, async () => {
    try {
      await probe.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: probe.abortSignal(),
      });
      return 'allowed';
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) {
        return 'allowed (the prefix is empty; a HEAD of a missing key answered 404, not 403)';
      }
      throw err;
    }
  });
}

async function probeOutput(probe: Prober, output: S3Location, leftovers: string[]): Promise<void> {
  const { bucket, prefix } = output;
  const id = randomBytes(6).toString('hex');
  const key = `${prefix}.s3worker-doctor-${id}`;
  const put = await probe.run('write a probe object', 's3:PutObject', { bucket, key }, async () => {
    await probe.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: 's3worker doctor probe; safe to delete\n',
      }),
      { abortSignal: probe.abortSignal() },
    );
    return 'allowed';
  });
  if (put) {
    const deleted = await probe.run(
      'delete the probe object',
      's3:DeleteObject',
      { bucket, key },
      async () => {
        await probe.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), {
          abortSignal: probe.abortSignal(),
        });
        return 'allowed';
      },
    );
    if (!deleted) leftovers.push(`s3://${bucket}/${key}`);
  } else {
    probe.skip(
      'delete the probe object',
      's3:DeleteObject',
      `s3://${bucket}/${key}`,
      'skipped: nothing was written',
    );
  }

  const mpuKey = `${key}.multipart`;
  let uploadId: string | undefined;
  const createdUpload = await probe.run(
    'start a multipart upload',
    's3:PutObject',
    { bucket, key: mpuKey },
    async () => {
      const out = await probe.s3.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: mpuKey }),
        {
          abortSignal: probe.abortSignal(),
        },
      );
      uploadId = out.UploadId;
      return 'allowed';
    },
  );
  if (createdUpload && uploadId) {
    const id = uploadId;
    const aborted = await probe.run(
      'abort the multipart upload',
      's3:AbortMultipartUpload',
      { bucket, key: mpuKey },
      async () => {
        await probe.s3.send(
          new AbortMultipartUploadCommand({ Bucket: bucket, Key: mpuKey, UploadId: id }),
          {
            abortSignal: probe.abortSignal(),
          },
        );
        return 'allowed';
      },
    );
    if (!aborted) leftovers.push(`s3://${bucket}/${mpuKey} (multipart upload ${id})`);
  } else {
    probe.skip(
      'abort the multipart upload',
      's3:AbortMultipartUpload',
      `s3://${bucket}/${mpuKey}`,
      'skipped: no upload was started',
    );
  }
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
