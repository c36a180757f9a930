import { type ErrorContext, ExitCode, S3WorkerError } from '../../../errors.js';

/** Codes of the errors a report reader raises; each exits with `ExitCode.BadInput` (5). */
export const ReportErrorCode = {
  /** The manifest or a data file is not what its format says (bad JSON, a missing column, a bad key encoding). */
  Invalid: 'REPORT_INVALID',
  /** A data file's MD5 is not the one its manifest records. */
  ChecksumMismatch: 'REPORT_CHECKSUM_MISMATCH',
  /** A data file format s3worker cannot read (ORC). */
  FormatUnsupported: 'REPORT_FORMAT_UNSUPPORTED',
} as const;

/**
 * A report (an S3 Inventory manifest or data file, a Batch Operations manifest) cannot be used:
 * the run refuses it before processing anything from it, with exit code 5 (BadInput).
 */
export class ReportError extends S3WorkerError {
  constructor(
    message: string,
    options: {
      code?: (typeof ReportErrorCode)[keyof typeof ReportErrorCode];
      context?: ErrorContext;
      hint: string;
      cause?: unknown;
    },
  ) {
    super(message, {
      code: options.code ?? ReportErrorCode.Invalid,
      exitCode: ExitCode.BadInput,
      hint: options.hint,
      ...(options.context === undefined ? {} : { context: options.context }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
  }
}
