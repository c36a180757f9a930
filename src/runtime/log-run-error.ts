import type { Logger } from 'pino';
import { ConfigError, type ExitCodeValue, S3WorkerError } from '../errors.js';

/**
 * Reports why a run failed: one `error` log line (code, message, hint, context, exit code) and,
 * when stderr is a terminal, the message and hint as plain text there too, so a person at a
 * shell reads it without decoding JSON.
 */
export function logRunError(
  log: Logger,
  error: unknown,
  exitCode: ExitCodeValue,
  stderr: NodeJS.WriteStream = process.stderr,
): void {
  if (error instanceof S3WorkerError) {
    log.error(
      {
        code: error.code,
        exitCode,
        hint: error.hint,
        context: error.context,
        ...(error instanceof ConfigError ? { issues: error.issues } : {}),
        ...(error.cause === undefined ? {} : { cause: describeCause(error.cause) }),
      },
      error.message,
    );
  } else {
    log.error({ err: error, exitCode }, 'run failed: unexpected error');
  }
  if (stderr.isTTY) {
    const text =
      error instanceof S3WorkerError ? error.describe() : String((error as Error)?.stack ?? error);
    stderr.write(`\ns3worker: ${text}\n`);
  }
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
}
