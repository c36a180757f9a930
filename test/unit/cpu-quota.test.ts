import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cpuQuota } from '../../src/jobs/kit/cpu-quota.js';

const roots: string[] = [];

/** A fake `/` holding the given files (path relative to the root → content). */
function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 's3worker-cpu-quota-'));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

describe('cpuQuota', () => {
  it('reads a cgroup v2 quota and rounds it up (1.5 CPUs on 8 cores: 2)', () => {
    const root = fakeRoot({
      'proc/self/cgroup': '0::/\n',
      'sys/fs/cgroup/cpu.max': '150000 100000\n',
    });
    expect(cpuQuota({ root, cores: 8 })).toBe(2);
  });

  it('takes the core count when cgroup v2 says max', () => {
    const root = fakeRoot({
      'proc/self/cgroup': '0::/\n',
      'sys/fs/cgroup/cpu.max': 'max 100000\n',
    });
    expect(cpuQuota({ root, cores: 6 })).toBe(6);
  });

  it('finds a v2 limit set on an ancestor of the process cgroup (no cgroup namespace)', () => {
    const root = fakeRoot({
      'proc/self/cgroup': '0::/ecs/task-1/container-a\n',
      'sys/fs/cgroup/ecs/task-1/cpu.max': '100000 100000\n',
      'sys/fs/cgroup/ecs/task-1/container-a/cpu.max': 'max 100000\n',
    });
    expect(cpuQuota({ root, cores: 16 })).toBe(1);
  });

  it('reads a cgroup v1 CFS quota (4 CPUs on 16 cores)', () => {
    const root = fakeRoot({
      'proc/self/cgroup': '4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n',
      // Inside the container the hierarchy's root is the container's own cgroup.
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '400000\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    expect(cpuQuota({ root, cores: 16 })).toBe(4);
  });

  it('takes the core count when cgroup v1 has no quota (-1)', () => {
    const root = fakeRoot({
      'proc/self/cgroup': '1:cpu:/\n',
      'sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n',
      'sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
    });
    expect(cpuQuota({ root, cores: 3 })).toBe(3);
  });

  it('never answers more than the cores available, nor less than 1', () => {
    const big = fakeRoot({
      'proc/self/cgroup': '0::/\n',
      'sys/fs/cgroup/cpu.max': '3200000 100000\n',
    });
    expect(cpuQuota({ root: big, cores: 2 })).toBe(2);
    const tiny = fakeRoot({
      'proc/self/cgroup': '0::/\n',
      'sys/fs/cgroup/cpu.max': '1000 100000\n',
    });
    expect(cpuQuota({ root: tiny, cores: 4 })).toBe(1);
  });

  it('falls back to the core count when nothing can be read', () => {
    expect(cpuQuota({ root: fakeRoot({}), cores: 5 })).toBe(5);
  });

  it('answers for this machine: between 1 and its core count', async () => {
    const { availableParallelism } = await import('node:os');
    const n = cpuQuota();
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(availableParallelism());
  });
});
