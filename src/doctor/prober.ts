import type { S3Client } from '@aws-sdk/client-s3';
import { explainS3Error } from '../s3/explain-error.js';
import type { DoctorCheck } from './doctor-report.js';

/** Runs the doctor's probes and records each outcome as a check. */
export class Prober {
  constructor(
    readonly s3: S3Client,
    private readonly timeoutMs: number,
    private readonly signal: AbortSignal | undefined,
    readonly checks: DoctorCheck[],
  ) {}

  /** Per-request signal: the caller's, bounded by the probe timeout. */
  abortSignal(): AbortSignal {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return this.signal ? AbortSignal.any([this.signal, timeout]) : timeout;
  }

  pass(name: string, permission: string, target: string, detail: string): void {
    this.checks.push({ name, permission, target, verdict: 'pass', detail });
  }

  skip(name: string, permission: string, target: string, detail: string): void {
    this.checks.push({ name, permission, target, verdict: 'skip', detail });
  }

  /** A failed check, with the error explained and the statement that would allow it as the fix. */
  fail(
    name: string,
    permission: string,
    where: { bucket: string; key: string },
    err: unknown,
  ): void {
    const e = explainS3Error(err, { action: permission, bucket: where.bucket, key: where.key });
    this.checks.push({
      name,
      permission,
      target: `s3://${where.bucket}/${where.key}`,
      verdict: 'fail',
      detail: e.message,
      code: e.code,
      exitCode: e.exitCode,
      ...(e.hint ? { fix: e.hint } : {}),
    });
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
    try {
      const detail = await fn();
      this.pass(name, permission, `s3://${where.bucket}/${where.key}`, detail);
      return true;
    } catch (err) {
      this.fail(name, permission, where, err);
      return false;
    }
  }
}
