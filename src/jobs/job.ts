import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { TransferSettings } from '../config/transfer-options.js';
import type { Transfer } from '../transfer/transfer.js';
import type { JobMetric } from './job-metrics.js';
import type { Permission } from './permissions.js';
import type { TaskMetadata } from './task-metadata.js';

/** Counts a job reports while it runs; the runtime turns them into progress lines and the summary. */
export interface ProgressReporter {
  /** The total is known (or grows, while listing): objects and bytes expected. */
  addTotal(objects: number, bytes: number): void;
  /** Bytes read from the source so far (call as data flows). */
  addBytesIn(bytes: number): void;
  /** Bytes written to the destination so far. */
  addBytesOut(bytes: number): void;
  /** One object is finished, one way or another. */
  objectDone(outcome: 'done' | 'skipped' | 'failed'): void;
  /**
   * Adds a named group of counts to every progress line and to the summary (`queue: {...}`),
   * read from `fields` at each line: a job's own counters beside the object counts. Optional
   * for reporters that have no use for it.
   */
  addSection?(name: string, fields: () => Record<string, unknown>): void;
  /**
   * Tells `s3worker healthcheck` what acknowledged work and idleness look like for this job (see
   * {@link HealthSignals}), beyond what the runtime sees by itself: bytes S3 stored through
   * `ctx.transfer` and objects done or skipped. Bytes read, objects failed, retries and
   * sections never count as progress. Optional for reporters that have no use for it.
   */
  addHealthSignals?(signals: HealthSignals): void;
  /**
   * Adds the job's own metrics to the run's metric lines (CloudWatch Embedded Metric Format,
   * see docs/metrics.md), beside the runtime's (bytes, objects, retries). Each is read at every
   * metric line. Optional for reporters that have no use for it.
   */
  addMetrics?(metrics: readonly JobMetric[]): void;
}

/**
 * A job's own measure of progress for the health check, read at every progress tick. The
 * progress mark moves when `settled` changes, or when `alive` changes while `pending` is 0:
 * a job that polls for work with nothing waiting is idle, not stuck, but polls, scans or
 * retries while work waits for an acknowledgement prove nothing.
 */
export interface HealthSignals {
  /**
   * Work acknowledged in the job's own terms (a queue message deleted, a byte the database
   * took): any change moves the mark. Default: none.
   */
  settled?: () => number;
  /**
   * Work taken on and not acknowledged yet (sealed batches waiting for S3, messages held or
   * failed and not yet redelivered). While any job signal's `pending` is above 0, `alive`
   * moves nothing. Default 0.
   */
  pending?: () => number;
  /**
   * A count that moves while the job waits for work (file scans, answered polls); it shows an
   * idle job alive. Default: none.
   */
  alive?: () => number;
}

/** What a running job gets from the runtime. */
export interface JobContext<C> {
  /** The validated config (flags > env > file > defaults). */
  config: C;
  /** Aborted on SIGTERM/SIGINT once the drain deadline passes (or on a second signal). Pass it to every S3 call. */
  signal: AbortSignal;
  /** Aborted at the first SIGTERM/SIGINT: stop starting new work, finish what is in flight. */
  stopSignal: AbortSignal;
  /** A child logger carrying the job name and run id. */
  log: Logger;
  /**
   * One S3 client for the whole run, built from the task's credentials. Prefer
   * `transfer.send` and `transfer.list`, which retry transient faults within the retry window.
   */
  s3: S3Client;
  /**
   * The run's uploads and downloads (`upload`, `putObject`, `download`): multipart, verified,
   * within one byte budget shared by everything the run moves. Use it rather than the SDK (or
   * lib-storage) for object data, so memory stays bounded; and every other request (`send`,
   * `list`), carried through resets and 503s within `--retry-window`.
   */
  transfer: Transfer;
  progress: ProgressReporter;
  /** A writable scratch directory (S3WORKER_TMPDIR, or the OS temp dir). */
  tmpDir: string;
  /** Unique id of this run, also written into logs and reports. */
  runId: string;
  /**
   * The ECS task and container the run is in (read once at start), for keys, manifests and
   * the user metadata of written objects; only `hostname` outside ECS.
   */
  task: TaskMetadata;
}

/** What `run()` returns: the runtime derives the exit code and the summary from it. */
export interface JobResult {
  /**
   * Items by outcome. `listed`, when the job reports it, is every item its source gave: a run
   * that was not stopped early has `listed = done + skipped + failed`.
   */
  objects: { done: number; skipped: number; failed: number; listed?: number };
  /** Skipped items by reason (`current`, `filtered`, `other-shard`, `own-output`...). */
  skippedBy?: Record<string, number>;
  bytesIn: number;
  bytesOut: number;
  /** True when the job stopped early because of `stopSignal`; work left undone can be resumed. */
  interrupted?: boolean;
  /** Where the failure report was written, when there were failures. */
  failureReport?: string;
}

/**
 * The static side of a job class: what the registry, `jobs`, `--help`, `policy` and `doctor`
 * read without running it.
 */
export interface JobClass<C = unknown> {
  new (config: C): Job<C>;
  /** Name used on the command line (`s3worker run <jobName>`), kebab-case. */
  readonly jobName: string;
  /** One line for `s3worker jobs`. */
  readonly description: string;
  /** Zod schema of the job's own options (the runtime adds the shared ones). */
  readonly configSchema: z.ZodObject;
  /** Transfer options whose default differs for this job (see `Job.transferDefaults`). */
  readonly transferDefaults?: Readonly<Partial<TransferSettings>>;
}

/**
 * Base class of every job. Subclass it (or a built-in such as `ObjectTransformJob`), set the
 * static fields, and implement `permissions()` and `run()`. Lifecycle: `setup` → `run` →
 * `teardown`; `teardown` runs even when `run` throws or is interrupted.
 */
export abstract class Job<C = unknown> {
  static readonly jobName: string;
  static readonly description: string;
  static readonly configSchema: z.ZodObject;
  /**
   * Transfer options (`--part-size`, `--queue-size`...) whose default differs for this job:
   * used where the flags, the environment and the config file set nothing. `run <job> --help`
   * lists them. Default: none, the run's defaults (`TRANSFER_DEFAULTS`).
   */
  static readonly transferDefaults: Readonly<Partial<TransferSettings>> = {};

  constructor(readonly config: C) {}

  /** The S3 (and KMS) permissions this job needs with this config. */
  abstract permissions(): Permission[];

  /** Before `run`: open what the job needs. Default: nothing. */
  async setup(_ctx: JobContext<C>): Promise<void> {}

  /** The work. Must honour `ctx.stopSignal` (no new work) and `ctx.signal` (abort now). */
  abstract run(ctx: JobContext<C>): Promise<JobResult>;

  /**
   * Sockets the S3 client's pool may open (per agent). Size it to the job's concurrency
   * (objects × requests in flight each, from the run's `transfer` settings): too few and requests
   * queue for a socket, too many only costs idle file descriptors. Default 50, the SDK's default.
   */
  maxSockets(_transfer: TransferSettings): number {
    return 50;
  }

  /** After `run`, always: release what `setup` opened. Default: nothing. */
  async teardown(_ctx: JobContext<C>): Promise<void> {}
}
