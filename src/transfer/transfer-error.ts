import { ExitCode, S3WorkerError } from '../errors.js';
import { explainS3Error, type S3ErrorContext } from '../s3/explain-error.js';

/** Codes of the conditional-request failures a job acts on (skip, retry, fail the object). */
export const TransferErrorCode = {
  /** `If-None-Match: *` refused the write: the key already exists (HTTP 412). */
  ObjectExists: 'OBJECT_EXISTS',
  /** Two conditional writes to the key raced (HTTP 409); writing again may succeed. */
  WriteConflict: 'WRITE_CONFLICT',
  /** `If-Match` refused a read: the object changed since it was listed (HTTP 412). */
  ObjectChanged: 'OBJECT_CHANGED',
  /** Downloaded bytes do not match the object's checksum. */
  ChecksumMismatch: 'CHECKSUM_MISMATCH',
} as const;

interface SdkErrorLike {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * What a transfer rethrows: the abort reason unchanged when `signal` aborted (an abort is never
 * turned into an S3 error), a recognisable S3WorkerError for conditional-request failures, and
 * `explainS3Error` for everything else.
 */
export function transferError(
  err: unknown,
  context: S3ErrorContext,
  signal?: AbortSignal,
): unknown {
  if (signal?.aborted) return signal.reason ?? err;
  if (err instanceof S3WorkerError) return err;
  const e = (err ?? {}) as SdkErrorLike;
  const code = e.Code ?? e.name;
  const status = e.$metadata?.httpStatusCode;
  const isWrite = /Put|Upload/.test(context.action);
  const where = `s3://${context.bucket ?? ''}/${context.key ?? ''}`;
  if (code === 'PreconditionFailed' || status === 412) {
    return isWrite
      ? new S3WorkerError(`${where} already exists; not overwritten (If-None-Match)`, {
          code: TransferErrorCode.ObjectExists,
          cause: err,
          context: { ...context, status },
          hint: 'the output was written before (or by another task); allow overwriting to replace it',
        })
      : new S3WorkerError(`${where} changed while it was being read (If-Match failed)`, {
          code: TransferErrorCode.ObjectChanged,
          cause: err,
          context: { ...context, status },
          hint: 'run again: the object will be read in its new version',
        });
  }
  if (code === 'ConditionalRequestConflict' || (isWrite && status === 409)) {
    return new S3WorkerError(`another conditional write to ${where} raced this one`, {
      code: TransferErrorCode.WriteConflict,
      exitCode: ExitCode.Unexpected,
      cause: err,
      context: { ...context, status },
      hint: 'run again: the write restarts from the beginning',
    });
  }
  // The SDK's response checksum validation (a single GET) throws a plain Error.
  const message = (err as { message?: unknown })?.message;
  if (typeof message === 'string' && message.startsWith('Checksum mismatch')) {
    return checksumMismatchError(context, err);
  }
  return explainS3Error(err, context);
}

/** The error of a download whose bytes do not match the object's checksum. */
export function checksumMismatchError(context: S3ErrorContext, cause?: unknown): S3WorkerError {
  const where = `s3://${context.bucket ?? ''}/${context.key ?? ''}`;
  return new S3WorkerError(`${where} failed its checksum check while being read`, {
    code: TransferErrorCode.ChecksumMismatch,
    ...(cause === undefined ? {} : { cause }),
    context: { ...context },
    hint: 'the bytes were corrupted in transit or at rest; run again, and check the object if it persists',
  });
}
