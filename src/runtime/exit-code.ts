import { ExitCode, type ExitCodeValue, S3WorkerError } from '../errors.js';
import type { JobResult } from '../jobs/job.js';

/** How a run ended: the job's result, or what it threw. */
export type RunOutcome =
  | { result: JobResult; error?: undefined }
  | { result?: undefined; error: unknown };

/**
 * The process exit code of a run: failed objects → ObjectsFailed (the failure report says
 * which); stopped early → Interrupted (re-run resumes); an error thrown after a stop signal →
 * Interrupted (also any error once in-flight work was aborted); an S3WorkerError → its own code; anything else → Unexpected.
 */
export function exitCodeOf(
  outcome: RunOutcome,
  stop: { requested: boolean; aborted: boolean },
): ExitCodeValue {
  if (outcome.result) {
    if (outcome.result.objects.failed > 0) return ExitCode.ObjectsFailed;
    if (outcome.result.interrupted) return ExitCode.Interrupted;
    return ExitCode.Success;
  }
  const err = outcome.error;
  // Once in-flight work was aborted, whatever it threw is a consequence of the stop.
  if (stop.aborted || (stop.requested && (isAbort(err) || !(err instanceof S3WorkerError)))) {
    return ExitCode.Interrupted;
  }
  if (err instanceof S3WorkerError) return err.exitCode;
  return ExitCode.Unexpected;
}

function isAbort(err: unknown): boolean {
  const name = (err as { name?: unknown })?.name;
  return name === 'AbortError' || (err instanceof S3WorkerError && err.code === 'INTERRUPTED');
}
