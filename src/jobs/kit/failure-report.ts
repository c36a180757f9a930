import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Sender } from '../../s3/s3-sender.js';

/** One object that failed. */
export interface ObjectFailure {
  /** Source key. */
  key: string;
  /** Output key, when it was computed before the failure. */
  outputKey?: string;
  /** Stable code: an S3 error name (`AccessDenied`, `NoSuchKey`), a zlib code (`Z_DATA_ERROR`), or s3worker's own (`UNSAFE_OUTPUT_KEY`). */
  code: string;
  message: string;
  /** HTTP attempts made for the request that failed (the SDK retries), 1 when nothing was retried. */
  attempts: number;
}

/** The JSON document written for a run with failures. */
export interface FailureReportDocument {
  runId: string;
  job: string;
  input: string;
  output: string;
  startedAt: string;
  finishedAt: string;
  /** Number of failed objects, including those beyond `failures`' cap. */
  failed: number;
  failures: ObjectFailure[];
}

/** At most this many failures are kept in memory and in the report; `failed` still counts all. */
export const MAX_REPORTED_FAILURES = 100_000;

/** Collects per-object failures during a run and writes them as one JSON report at the end. */
export class FailureReport {
  readonly failures: ObjectFailure[] = [];
  private total = 0;
  private readonly startedAt = new Date();

  constructor(
    private readonly meta: { runId: string; job: string; input: string; output: string },
  ) {}

  /** Number of failures recorded so far. */
  get count(): number {
    return this.total;
  }

  add(failure: ObjectFailure): void {
    this.total++;
    if (this.failures.length < MAX_REPORTED_FAILURES) this.failures.push(failure);
  }

  toJSON(): FailureReportDocument {
    return {
      ...this.meta,
      startedAt: this.startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      failed: this.total,
      failures: this.failures,
    };
  }

  /** Writes the report to a local file (creating its folder). */
  async writeFile(path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, `${JSON.stringify(this.toJSON(), null, 2)}\n`);
  }

  /** Uploads the report as one object (a report is small: one PutObject). */
  async upload(s3: S3Sender, bucket: string, key: string, signal?: AbortSignal): Promise<void> {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: JSON.stringify(this.toJSON(), null, 2),
        ContentType: 'application/json',
      }),
      signal ? { abortSignal: signal } : {},
    );
  }
}

/** Turns any error into a report entry: S3WorkerError and SDK codes when present, else the name. */
export function describeFailure(
  key: string,
  outputKey: string | undefined,
  err: unknown,
): ObjectFailure {
  const e = err as {
    code?: unknown;
    name?: string;
    message?: string;
    $metadata?: { attempts?: number };
    cause?: { $metadata?: { attempts?: number } };
  };
  const code = typeof e?.code === 'string' && e.code !== '' ? e.code : (e?.name ?? 'Error');
  const attempts = e?.$metadata?.attempts ?? e?.cause?.$metadata?.attempts ?? 1;
  const failure: ObjectFailure = { key, code, message: e?.message ?? String(err), attempts };
  if (outputKey !== undefined) failure.outputKey = outputKey;
  return failure;
}
