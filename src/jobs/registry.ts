import { ConfigError } from '../errors.js';
import type { JobClass } from './job.js';

/** Imports a job's module and returns its class. */
export type JobLoader = () => Promise<JobClass>;

/**
 * The jobs a run can pick by name: the built-ins plus any a user module registered. A class
 * registered under a name already taken replaces it, so a user subclass that keeps its parent's
 * `jobName` (say `stream-transform`) runs in its parent's place.
 *
 * Built-in jobs are registered by name with a loader: a run imports the module of its own job
 * only (not the database clients' or the queue's), which keeps start-up time and memory down.
 */
export class JobRegistry {
  readonly #jobs = new Map<string, JobClass>();
  /** Jobs registered by name and not imported yet. */
  readonly #loaders = new Map<string, JobLoader>();

  /** Adds (or replaces) a job under its `jobName`. */
  register<C>(job: JobClass<C>): void {
    // Jobs of every config type live in one map; each validates its own config with its schema.
    this.#loaders.delete(job.jobName);
    this.#jobs.set(job.jobName, job as unknown as JobClass);
  }

  /**
   * Adds (or replaces) a job under `name`, imported on first use. The class it loads must
   * carry that `jobName`.
   */
  registerLazy(name: string, load: JobLoader): void {
    this.#jobs.delete(name);
    this.#loaders.set(name, load);
  }

  /** The job with this name (importing its module on first use), or undefined. */
  async find(name: string): Promise<JobClass | undefined> {
    const load = this.#loaders.get(name);
    if (load !== undefined) {
      const job = await load();
      if (job.jobName !== name) {
        throw new Error(`the module registered as job "${name}" exports job "${job.jobName}"`);
      }
      // Unless something else was registered under this name meanwhile.
      if (this.#loaders.get(name) === load) this.register(job);
    }
    return this.#jobs.get(name);
  }

  /** The job with this name; a ConfigError listing the known jobs when there is none. */
  async get(name: string): Promise<JobClass> {
    const job = await this.find(name);
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
    return [...this.#jobs.keys(), ...this.#loaders.keys()].sort();
  }

  /** Registered jobs, sorted by name (every module imported). */
  async list(): Promise<JobClass[]> {
    const jobs: JobClass[] = [];
    for (const name of this.names()) jobs.push((await this.find(name))!);
    return jobs;
  }
}

/** The jobs that ship with s3worker, by name, each imported when a run asks for it. */
export const BUILTIN_JOBS: Readonly<Record<string, JobLoader>> = {
  'stream-transform': async () =>
    (await import('./stream-transform/object-transform-job.js')).ObjectTransformJob as JobClass,
  'ship-logs': async () =>
    (await import('./ship-logs/log-shipper-job.js')).LogShipperJob as JobClass,
  'db-backup': async () =>
    (await import('./db-backup/database-backup-job.js')).DatabaseBackupJob as JobClass,
  'db-restore': async () =>
    (await import('./db-restore/database-restore-job.js')).DatabaseRestoreJob as JobClass,
  enqueue: async () => (await import('./enqueue/enqueue-job.js')).EnqueueJob as JobClass,
};

/** A registry holding the built-in jobs. */
export async function createJobRegistry(): Promise<JobRegistry> {
  const registry = new JobRegistry();
  for (const [name, load] of Object.entries(BUILTIN_JOBS)) registry.registerLazy(name, load);
  return registry;
}
