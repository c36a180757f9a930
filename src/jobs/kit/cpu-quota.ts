import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/** Options of {@link cpuQuota}; for tests, which point it at a fake file tree. */
export interface CpuQuotaOptions {
  /** Directory standing for `/` when reading `/proc/self/cgroup` and `/sys/fs/cgroup` (default `/`). */
  root?: string;
  /** The cores the scheduler lets this process run on (default `os.availableParallelism()`). */
  cores?: number;
}

let cached: number | undefined;

/**
 * The number of cores this process may keep busy: the container's CPU quota rounded up (cgroup
 * v2 `cpu.max`, or v1 `cpu.cfs_quota_us / cpu.cfs_period_us`; the smallest along the path from
 * the process's cgroup to the root), but never more than `os.availableParallelism()` (the cores
 * in the CPU set). Without a quota, that count alone. At least 1.
 *
 * An ECS task with `cpu: 1024` (1 vCPU) on a 16-core host gets 1 here where the core count says
 * 16: sizing parallel work to the core count would queue 16 blocks for one core's worth of time.
 *
 * Cost: a few small file reads, once per process (the answer is memoised; pass options to read
 * afresh).
 */
export function cpuQuota(options?: CpuQuotaOptions): number {
  if (options === undefined && cached !== undefined) return cached;
  const root = options?.root ?? '/';
  const cores = Math.max(1, options?.cores ?? availableParallelism());
  const quota = readQuota(root);
  const result = quota === undefined ? cores : Math.max(1, Math.min(cores, Math.ceil(quota)));
  if (options === undefined) cached = result;
  return result;
}

/** The quota in cores (may be fractional), or undefined when none is set or none can be read. */
function readQuota(root: string): number | undefined {
  const lines = read(join(root, 'proc/self/cgroup'))?.split('\n') ?? [];
  let smallest: number | undefined;
  const consider = (cores: number | undefined) => {
    if (cores !== undefined && (smallest === undefined || cores < smallest)) smallest = cores;
  };
  for (const line of lines) {
    // `hierarchy-id:controllers:path`; v2 is `0::path`, v1 names its controllers.
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, id, controllers = '', path = '/'] = match;
    if (id === '0' && controllers === '') {
      for (const dir of candidateDirs(join(root, 'sys/fs/cgroup'), path)) {
        consider(parseCpuMax(read(join(dir, 'cpu.max'))));
      }
    } else if (controllers.split(',').includes('cpu')) {
      for (const mount of [controllers, 'cpu', 'cpu,cpuacct', 'cpuacct,cpu']) {
        for (const dir of candidateDirs(join(root, 'sys/fs/cgroup', mount), path)) {
          consider(
            parseCfs(read(join(dir, 'cpu.cfs_quota_us')), read(join(dir, 'cpu.cfs_period_us'))),
          );
        }
      }
    }
  }
  // A v2 system whose /proc/self/cgroup could not be read: the namespace root is ours.
  if (lines.length === 0) consider(parseCpuMax(read(join(root, 'sys/fs/cgroup/cpu.max'))));
  return smallest;
}

/**
 * The directories that may hold the limits of the cgroup at `path`: the cgroup itself and each
 * ancestor up to the mount point. Inside a container with its own cgroup namespace the path is
 * `/` and only the mount point exists; without one the host's path is seen, and the limit may
 * sit on any ancestor.
 */
function candidateDirs(mount: string, path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  const dirs: string[] = [];
  for (let n = parts.length; n >= 0; n--) dirs.push(join(mount, ...parts.slice(0, n)));
  return dirs;
}

/** cgroup v2 `cpu.max`: `max 100000` (no limit) or `<quota> <period>` in microseconds. */
function parseCpuMax(text: string | undefined): number | undefined {
  const [quota, period = '100000'] = text?.trim().split(/\s+/) ?? [];
  if (quota === undefined || quota === 'max') return undefined;
  return ratio(Number(quota), Number(period));
}

/** cgroup v1: `cpu.cfs_quota_us` is -1 without a limit. */
function parseCfs(quota: string | undefined, period: string | undefined): number | undefined {
  if (quota === undefined || period === undefined) return undefined;
  return ratio(Number(quota.trim()), Number(period.trim()));
}

function ratio(quota: number, period: number): number | undefined {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) {
    return undefined;
  }
  return quota / period;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
