// What the jobs' own benches (ship-logs.mjs, db-backup.mjs, queue-memory.mjs) share: their
// options, the local servers' environment, a worker's environment, and a process's peak memory.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBenchClient } from './bench-s3.mjs';

/** The value after `--<name>` on the command line, else `fallback`. */
export function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
}

/** Where scripts/test-services.sh keeps the local servers' data, pids and env file. */
export function servicesDir() {
  return process.env.S3WORKER_SERVICES_DIR ?? join(tmpdir(), 's3worker-services');
}

/** The variables scripts/test-services.sh wrote for the servers it started. */
export function servicesEnv() {
  const file = join(servicesDir(), 'env');
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => /^([A-Z0-9_]+)=(.*)$/.exec(l.trim()))
      .filter(Boolean)
      .map((m) => [m[1], m[2]]),
  );
}

/** The harness's S3 client on the local MinIO (`services`, from `servicesEnv()`). */
export function servicesS3Client(services) {
  return createBenchClient({
    endpoint: services.S3_ENDPOINT,
    region: services.S3_REGION ?? 'us-east-1',
    accessKeyId: services.S3_ACCESS_KEY_ID,
    secretAccessKey: services.S3_SECRET_ACCESS_KEY,
  });
}

/**
 * The environment of an s3worker process on the local MinIO (`services`, from `servicesEnv()`),
 * with `dir` as its scratch folder and nothing of the harness's own environment but PATH.
 */
export function workerEnv(services, dir) {
  return {
    PATH: process.env.PATH,
    AWS_ACCESS_KEY_ID: services.S3_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: services.S3_SECRET_ACCESS_KEY,
    AWS_REGION: services.S3_REGION ?? 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    S3WORKER_ENDPOINT: services.S3_ENDPOINT,
    S3WORKER_TMPDIR: dir,
  };
}

/** Peak resident memory of a process so far (VmHWM), bytes; NaN once it is gone. */
export function peakRss(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Calls `onEntry` with each JSON log line of `stream` (s3worker's `--log-format json` stdout)
 * whose text contains `marker` (a cheap filter before parsing), as the lines arrive.
 */
export function onLogLines(stream, marker, onEntry) {
  let pending = '';
  stream.setEncoding('utf8').on('data', (text) => {
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) if (line.includes(marker)) onEntry(JSON.parse(line));
  });
}
