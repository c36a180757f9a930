import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { RuntimeOptions } from '../config/runtime-options.js';
import type { TransferSettings } from '../config/transfer-options.js';
import { logCredentialSource } from '../credentials/log-credential-source.js';
import { ExitCode, type ExitCodeValue, InterruptedError } from '../errors.js';
import type { Job, JobClass, JobContext, JobResult } from '../jobs/job.js';
import type { TaskMetadata } from '../jobs/task-metadata.js';
import { type CreatedS3Client, createS3Client } from '../s3/client.js';
import { RequestCounts } from '../s3/request-counts.js';
import { Transfer } from '../transfer/transfer.js';
import { exitCodeOf, type RunOutcome } from './exit-code.js';
import { logRunError } from './log-run-error.js';
import { metricsEnabled, RunMetrics } from './metrics/run-metrics.js';
import { progressFields, startProgressDisplay } from './progress-display.js';
import { ProgressMark } from './progress-mark.js';
import { type ProgressSnapshot, ProgressTracker } from './progress-tracker.js';
import { readTaskMetadata } from './read-task-metadata.js';
import { type RunState, type RunStatus, writeStatus } from './status-file.js';

/**
 * After in-flight work is aborted (drain deadline or second signal), how long the job gets to
 * abort its multipart uploads and return before the process exits on its own.
 */
export const FORCE_EXIT_GRACE_MS = 5_000;

export interface RunJobOptions<C> {
  jobClass: JobClass<C>;
  /** The job's own validated config. */
  jobConfig: C;
  /** The shared runtime options (logging, progress, drain, AWS). */
  runtime: RuntimeOptions;
  /** The process logger; the job gets a child with `runId` and `job`. */
  log: Logger;
  /** Scratch folder: the status file goes here, and the job gets it as `ctx.tmpDir`. */
  tmpDir: string;
  /** Where AWS_* variables are read for the S3 client; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Emits SIGTERM/SIGINT; default `process`. */
  signals?: EventEmitter;
  /** Live progress bar on a terminal; default: `process.stderr.isTTY`. */
  tty?: boolean;
  /** Called when the job ignores the abort past `FORCE_EXIT_GRACE_MS`; default `process.exit`. */
  forceExit?: (code: ExitCodeValue) => void;
}

/**
 * Runs one job from start to exit code: S3 client (logging the credential source), status file,
 * `setup` → `run` → `teardown`, progress, signals, and a final summary line.
 *
 * SIGTERM/SIGINT aborts `ctx.stopSignal` (no new work) and starts the drain deadline
 * (`drainTimeout`); at the deadline, or on a second signal, `ctx.signal` is aborted so in-flight
 * work stops (jobs abort their multipart uploads). A job that still has not returned
 * `FORCE_EXIT_GRACE_MS` later is left behind: the process exits with Interrupted.
 */
export async function runJob<C>(options: RunJobOptions<C>): Promise<ExitCodeValue> {
  const { jobClass, runtime } = options;
  const runId = randomUUID();
  let log = options.log.child({ runId, job: jobClass.jobName });
  const env = options.env ?? process.env;
  const signals = options.signals ?? process;
  const forceExit = options.forceExit ?? ((code: ExitCodeValue) => process.exit(code));
  const tracker = new ProgressTracker();
  const startedAt = new Date();
  const stop = new AbortController();
  const abort = new AbortController();
  let signalCount = 0;
  let drainTimer: NodeJS.Timeout | undefined;
  let forceTimer: NodeJS.Timeout | undefined;
  let statusBroken = false;
  let lastStatusWrite: Promise<void> = Promise.resolve();

  // The health check asks "has acknowledged work moved lately?" (see ProgressMark): a hung
  // transfer keeps ticking, a refused one keeps retrying, and both get replaced.
  const progressMark = new ProgressMark(startedAt);
  let transfer: Transfer | undefined;
  const status = (state: RunState, exitCode?: number): void => {
    const snap = tracker.snapshot();
    const now = new Date();
    const lastProgressAt = progressMark.update(
      {
        bytesStored: transfer?.bytesStored ?? 0,
        done: snap.objects.done,
        skipped: snap.objects.skipped,
        signals: tracker.healthSignals,
      },
      now,
    );
    const s: RunStatus = {
      pid: process.pid,
      job: jobClass.jobName,
      runId,
      state,
      startedAt: startedAt.toISOString(),
      updatedAt: now.toISOString(),
      lastProgressAt: lastProgressAt.toISOString(),
      objectsDone: snap.objects.done + snap.objects.skipped + snap.objects.failed,
      bytesOut: snap.bytesOut,
      ...(exitCode === undefined ? {} : { exitCode }),
    };
    // One write at a time, in order: a slow tick must never land after the final state.
    lastStatusWrite = lastStatusWrite
      .then(() => writeStatus(options.tmpDir, s))
      .catch((err: Error) => {
        // The status file only feeds the health check; a full or read-only disk must not stop the job.
        if (!statusBroken) log.warn({ err, dir: options.tmpDir }, 'cannot write the status file');
        statusBroken = true;
      });
  };

  const abortNow = (reason: string): void => {
    if (abort.signal.aborted) return;
    abort.abort(new InterruptedError(reason));
    forceTimer = setTimeout(() => {
      log.error({ graceMs: FORCE_EXIT_GRACE_MS }, 'job did not stop after abort: exiting');
      status('interrupted', ExitCode.Interrupted);
      void lastStatusWrite.then(() => log.flush(() => forceExit(ExitCode.Interrupted)));
    }, FORCE_EXIT_GRACE_MS);
    forceTimer.unref();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    signalCount++;
    if (signalCount === 1) {
      log.warn(
        { signal, drainTimeoutMs: runtime.drainTimeout },
        'stop requested: finishing in-flight work',
      );
      stop.abort(new InterruptedError(`stopped by ${signal}`));
      drainTimer = setTimeout(() => {
        log.warn({ drainTimeoutMs: runtime.drainTimeout }, 'drain deadline passed: aborting');
        abortNow('drain deadline passed');
      }, runtime.drainTimeout);
      drainTimer.unref();
    } else {
      log.warn({ signal }, 'second signal: aborting now');
      abortNow(`second ${signal}`);
    }
  };
  signals.on('SIGTERM', onSignal);
  signals.on('SIGINT', onSignal);

  let s3: CreatedS3Client | undefined;
  let display: { stop(): void } | undefined;
  let outcome: RunOutcome;
  // Read once, before the first line that should carry it; a failure is the host name alone.
  const task = await readTaskMetadata({ env, log, signal: abort.signal }).catch(
    (): TaskMetadata => ({ ecs: false, hostname: hostname() }),
  );
  if (task.ecs) log = log.child({ ecs: ecsLogFields(task) });
  const counts = new RequestCounts();
  const metrics = metricsEnabled(runtime.metrics, env)
    ? new RunMetrics({
        options: runtime,
        jobName: jobClass.jobName,
        task,
        tracker,
        counts,
        log,
      })
    : undefined;
  log.info('run starting');
  status('running');
  metrics?.start();
  try {
    const job = new jobClass(options.jobConfig) as Job<C>;
    s3 = await createS3Client({
      region: runtime.region,
      endpoint: runtime.endpoint,
      forcePathStyle: runtime.forcePathStyle,
      credentials: runtime.credentials,
      profile: runtime.profile,
      maxAttempts: runtime.maxAttempts,
      retryMode: runtime.retryMode,
      checksumCalculation: runtime.checksumCalculation,
      checksumValidation: runtime.checksumValidation,
      payloadSigning: runtime.payloadSigning,
      socketTimeout: runtime.socketTimeout,
      maxSockets: job.maxSockets(transferSettings(runtime)),
      log,
      counts,
      task,
      ...(options.env ? { env: options.env } : {}),
    });
    logCredentialSource(log, s3);
    display = startProgressDisplay({
      tracker,
      log,
      tty: options.tty ?? process.stderr.isTTY === true,
      intervalMs: runtime.progressInterval,
      onTick: () => status('running'),
    });
    transfer = new Transfer(s3.client, {
      ...transferSettings(runtime),
      directRequests: runtime.directRequests,
      unsignedPayload: s3.unsignedPayload,
      log,
      counts,
    });
    const ctx: JobContext<C> = {
      config: options.jobConfig,
      signal: abort.signal,
      stopSignal: stop.signal,
      log,
      s3: s3.client,
      transfer,
      progress: tracker,
      tmpDir: options.tmpDir,
      runId,
      task,
    };
    outcome = await runLifecycle(job, ctx, log);
  } catch (error) {
    outcome = { error };
  }
  display?.stop();
  signals.off('SIGTERM', onSignal);
  signals.off('SIGINT', onSignal);
  clearTimeout(drainTimer);
  clearTimeout(forceTimer);
  s3?.client.destroy();

  const code = exitCodeOf(outcome, {
    requested: stop.signal.aborted,
    aborted: abort.signal.aborted,
  });
  if (outcome.error !== undefined) logRunError(log, outcome.error, code);
  logSummary(log, tracker.snapshot(), outcome.result, code, metrics);
  status(stateOf(code), code);
  await lastStatusWrite;
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  return code;
}

/** setup → run → teardown; teardown always runs, and its failure never hides run's outcome. */
async function runLifecycle<C>(job: Job<C>, ctx: JobContext<C>, log: Logger): Promise<RunOutcome> {
  let outcome: RunOutcome;
  try {
    await job.setup(ctx);
    outcome = { result: await job.run(ctx) };
  } catch (error) {
    outcome = { error };
  }
  try {
    await job.teardown(ctx);
  } catch (err) {
    log.error({ err }, 'teardown failed');
  }
  return outcome;
}

/** The run's last line: its counts, how it ended, and its last metrics (when they are on). */
function logSummary(
  log: Logger,
  snap: ProgressSnapshot,
  result: JobResult | undefined,
  exitCode: ExitCodeValue,
  metrics: RunMetrics | undefined,
): void {
  const objects = result?.objects ?? {
    done: snap.objects.done,
    skipped: snap.objects.skipped,
    failed: snap.objects.failed,
  };
  const bytesIn = result?.bytesIn ?? snap.bytesIn;
  const bytesOut = result?.bytesOut ?? snap.bytesOut;
  const seconds = snap.elapsedMs / 1000;
  log.info(
    {
      ...progressFields(snap),
      objects,
      bytesIn,
      bytesOut,
      durationMs: snap.elapsedMs,
      mbPerSecond: Number((seconds > 0 ? bytesIn / 1e6 / seconds : 0).toFixed(2)),
      ...(result?.skippedBy ? { skippedBy: result.skippedBy } : {}),
      ...(result?.interrupted ? { interrupted: true } : {}),
      ...(result?.failureReport ? { failureReport: result.failureReport } : {}),
      exitCode,
      ...metrics?.summaryMembers({ exitCode, durationMs: snap.elapsedMs, result }),
    },
    'summary',
  );
}

/** The transfer options out of the runtime options. */
function transferSettings(runtime: RuntimeOptions): TransferSettings {
  const {
    partSize,
    queueSize,
    maxBufferedBytes,
    rangeThreshold,
    rangeSize,
    rangeConcurrency,
    retryWindow,
  } = runtime;
  return {
    partSize,
    queueSize,
    maxBufferedBytes,
    rangeThreshold,
    rangeSize,
    rangeConcurrency,
    retryWindow,
  };
}

function stateOf(code: ExitCodeValue): RunState {
  if (code === ExitCode.Success) return 'done';
  if (code === ExitCode.Interrupted) return 'interrupted';
  return 'failed';
}

/** What a log line says of the ECS task: `ecs: { cluster, taskArn, family: "name:revision", ... }`. */
function ecsLogFields(task: TaskMetadata): Record<string, string> {
  const fields: Record<string, string | undefined> = {
    cluster: task.cluster,
    taskArn: task.taskArn,
    family: task.family && task.revision ? `${task.family}:${task.revision}` : task.family,
    container: task.container,
    availabilityZone: task.availabilityZone,
    launchType: task.launchType,
  };
  return Object.fromEntries(
    Object.entries(fields).filter((e): e is [string, string] => e[1] !== undefined),
  );
}
