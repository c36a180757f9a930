import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../../src/errors.js';
import { Job, type JobClass, type JobResult } from '../../src/jobs/job.js';
import type { Permission } from '../../src/jobs/permissions.js';
import { BUILTIN_JOBS, createJobRegistry, JobRegistry } from '../../src/jobs/registry.js';

class Sample extends Job<Record<string, never>> {
  static override readonly jobName: string = 'sample';
  static override readonly description = 'a job for the registry to find';
  static override readonly configSchema = z.object({});
  permissions(): Permission[] {
    return [];
  }
  async run(): Promise<JobResult> {
    return { objects: { done: 0, skipped: 0, failed: 0 }, bytesIn: 0, bytesOut: 0 };
  }
}

describe('JobRegistry', () => {
  it('imports a built-in job only when it is asked for, once', async () => {
    const registry = new JobRegistry();
    let loads = 0;
    registry.registerLazy('sample', async () => {
      loads++;
      return Sample as unknown as JobClass;
    });
    expect(registry.names()).toEqual(['sample']);
    expect(loads).toBe(0);
    expect(await registry.get('sample')).toBe(Sample);
    expect(await registry.find('sample')).toBe(Sample);
    expect(loads).toBe(1);
    await expect(registry.get('nope')).rejects.toBeInstanceOf(ConfigError);
  });

  it('refuses a module whose job has another name than it was registered under', async () => {
    const registry = new JobRegistry();
    registry.registerLazy('other', async () => Sample as unknown as JobClass);
    await expect(registry.get('other')).rejects.toThrow(
      /registered as job "other" exports job "sample"/,
    );
  });

  it('lets a class registered under a built-in name replace it, unloaded', async () => {
    const registry = await createJobRegistry();
    class MyTransform extends Sample {
      static override readonly jobName: string = 'stream-transform';
    }
    registry.register(MyTransform as unknown as JobClass);
    expect(await registry.get('stream-transform')).toBe(MyTransform);
  });

  it('names each built-in job after the class its module exports', async () => {
    const registry = await createJobRegistry();
    const jobs = await registry.list();
    expect(jobs.map((j) => j.jobName)).toEqual(Object.keys(BUILTIN_JOBS).sort());
    for (const job of jobs) expect(job.prototype).toBeInstanceOf(Job);
  });
});
