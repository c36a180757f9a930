import { ConfigError } from '../errors.js';
import { DatabaseBackupJob } from './db-backup/database-backup-job.js';
import { DatabaseRestoreJob } from './db-restore/database-restore-job.js';
import type { JobClass } from './job.js';
import { LogShipperJob } from './ship-logs/log-shipper-job.js';
import { ObjectTransformJob } from './stream-transform/object-transform-job.js';

/**
 * The jobs a run can pick by name: the built-ins plus any a user module registered. A class
 * registered under a name already taken replaces it, so a user subclass that keeps its parent's
 * `jobName` (say `stream-transform`) runs in its parent's place.
 */
export class JobRegistry {
  readonly #jobs = new Map<string, JobClass>();

  /** Adds (or replaces) a job under its `jobName`. */
  register<C>(job: JobClass<C>): void {
    // Jobs of every config type live in one map; each validates its own config with its schema.
    this.#jobs.set(job.jobName, job as unknown as JobClass);
  }

  /** The job with this name, or undefined. */
  find(name: string): JobClass | undefined {
    return this.#jobs.get(name);
  }

  /** The job with this name; a ConfigError listing the known jobs when there is none. */
  get(name: string): JobClass {
    const job = this.#jobs.get(name);
    if (job) return job;
    const known = this.names();
    throw new ConfigError(
      [
        {
          path: 'job',
          message: `unknown job "${name}"; known jobs: ${known.length > 0 ? known.join(', ') : 'none'}`,
        },
      ],
      { hint: '`s3worker jobs` lists the jobs; a job of your own is loaded with --handler' },
    );
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.#jobs.keys()].sort();
  }

  /** Registered jobs, sorted by name. */
  list(): JobClass[] {
    return this.names().map((n) => this.#jobs.get(n)!);
  }
}

/** The jobs that ship with s3worker. */
const BUILTIN_JOBS = [
  ObjectTransformJob,
  LogShipperJob,
  DatabaseBackupJob,
  DatabaseRestoreJob,
] as const;

/** A registry holding the built-in jobs. */
export async function createJobRegistry(): Promise<JobRegistry> {
  const registry = new JobRegistry();
  for (const job of BUILTIN_JOBS) registry.register(job as JobClass);
  return registry;
}
