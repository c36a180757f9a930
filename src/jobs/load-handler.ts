import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';
import { Job, type JobClass } from './job.js';

/**
 * Imports a user's job module and returns the job classes it exports: the default export
 * first, then named exports. A class counts when it extends `Job` — or, when the module got
 * `Job` from another copy of s3worker, when it has the same shape (static `jobName`,
 * `configSchema`, and a `run` method).
 *
 * @param specifier path of an ES module (`./dist/my-job.js`); relative paths are resolved from `baseDir`.
 * @param baseDir the working directory, or the config file's folder when the handler came from it.
 * @throws ConfigError when the module cannot be loaded or exports no job class.
 */
export async function loadHandler(specifier: string, baseDir: string): Promise<JobClass[]> {
  const path = isAbsolute(specifier) ? specifier : resolve(baseDir, specifier);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(
      [{ path: 'handler', message: `cannot load ${specifier} (${path}): ${firstLine(err)}` }],
      {
        cause: err,
        hint: 'point --handler at a built ES module (.js/.mjs) that exports a job class',
      },
    );
  }
  const found: JobClass[] = [];
  for (const value of [
    mod.default,
    ...Object.entries(mod)
      .filter(([k]) => k !== 'default')
      .map(([, v]) => v),
  ]) {
    if (isJobClass(value) && !found.includes(value)) found.push(value);
  }
  if (found.length === 0) {
    throw new ConfigError([{ path: 'handler', message: `${specifier} exports no job class` }], {
      hint: 'export (default or named) a class that extends Job or ObjectTransformJob and sets static jobName, description and configSchema',
    });
  }
  return found;
}

function isJobClass(value: unknown): value is JobClass {
  if (typeof value !== 'function') return false;
  if (value.prototype instanceof Job)
    return typeof (value as { jobName?: unknown }).jobName === 'string';
  const v = value as {
    jobName?: unknown;
    configSchema?: { shape?: unknown };
    prototype?: { run?: unknown };
  };
  return (
    typeof v.jobName === 'string' &&
    typeof v.configSchema?.shape === 'object' &&
    typeof v.prototype?.run === 'function'
  );
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!;
}
