/**
 * Process exit codes. One table, documented in docs/running.md; a code never changes meaning.
 */
export const ExitCode = {
  /** Every object done (or skipped as already done). */
  Success: 0,
  /** A bug or an error nobody classified. */
  Unexpected: 1,
  /** Bad flags, environment or config file; nothing was sent to S3. */
  Config: 2,
  /** The job ran to the end but some objects failed; see the failure report. */
  ObjectsFailed: 3,
  /** Stopped by SIGTERM/SIGINT before the end; running the same command again resumes. */
  Interrupted: 4,
  /** An input the run was told to read (an inventory report, a manifest) is corrupt or malformed; nothing was processed. */
  BadInput: 5,
  /** No credentials could be found by the selected source. */
  NoCredentials: 10,
  /** The credentials were rejected (expired token, unknown key, bad signature) or the endpoint that hands them out failed. */
  CredentialsRejected: 11,
  /** The credentials are valid but the policy does not allow the action. */
  AccessDenied: 12,
  /** A bucket (or the SQS queue) named in the config does not exist. */
  NoSuchBucket: 13,
  /** The bucket lives in another region than the client's. */
  WrongRegion: 14,
  /** The local clock is too far from the server's for signatures to be accepted. */
  ClockSkew: 15,
  /** The S3 endpoint (or the credentials endpoint) could not be reached. */
  EndpointUnreachable: 16,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Where an error happened: whatever of these applies. Never holds a secret. */
export interface ErrorContext {
  bucket?: string;
  key?: string;
  uploadId?: string;
  part?: number;
  action?: string;
  field?: string;
  [name: string]: unknown;
}

export interface S3WorkerErrorOptions {
  /** Stable machine-readable code, e.g. `ACCESS_DENIED`. */
  code: string;
  exitCode?: ExitCodeValue;
  cause?: unknown;
  context?: ErrorContext;
  /** What the user should do about it; printed after the message. */
  hint?: string;
}

/**
 * Base of every error s3worker raises on purpose: a message that says what happened, a `hint`
 * that says what to do, a stable `code`, the process `exitCode` it maps to, and `context`.
 */
export class S3WorkerError extends Error {
  readonly code: string;
  readonly exitCode: ExitCodeValue;
  readonly context: ErrorContext;
  readonly hint: string | undefined;

  constructor(message: string, options: S3WorkerErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.exitCode = options.exitCode ?? ExitCode.Unexpected;
    this.context = options.context ?? {};
    this.hint = options.hint;
  }

  /** Message and hint on one or two lines, for a terminal. */
  describe(): string {
    return this.hint ? `${this.message}\n  → ${this.hint}` : this.message;
  }
}

/** One problem found while validating configuration. */
export interface ConfigIssue {
  /** Dotted path of the field, e.g. `output.partSize`, or the flag/env name it came from. */
  path: string;
  message: string;
}

/** Configuration is invalid; lists every problem, not only the first. */
export class ConfigError extends S3WorkerError {
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[], options: { cause?: unknown; hint?: string } = {}) {
    const lines = issues.map((i) => `  - ${i.path ? `${i.path}: ` : ''}${i.message}`);
    super(`invalid configuration:\n${lines.join('\n')}`, {
      code: 'CONFIG_INVALID',
      exitCode: ExitCode.Config,
      cause: options.cause,
      hint: options.hint ?? 'fix the fields above; `s3worker run <job> --help` lists every option',
    });
    this.issues = issues;
  }
}

/** The run was stopped by a signal before it finished; re-running resumes. */
export class InterruptedError extends S3WorkerError {
  constructor(message = 'interrupted before the end', options: { cause?: unknown } = {}) {
    super(message, {
      code: 'INTERRUPTED',
      exitCode: ExitCode.Interrupted,
      cause: options.cause,
      hint: 'run the same command again: finished objects are skipped',
    });
  }
}
