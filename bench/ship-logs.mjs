// ship-logs throughput: lines/s of ~200-byte log lines, gzip level 1, from a file being
// appended while the shipper follows it, beside `gzip -1` of the same bytes in the same run
// (the physical bound of this pipeline on this machine). Needs `npm run build` and the local
// MinIO (scripts/test-services.sh start).
//
//   node bench/ship-logs.mjs [--size 400MiB] [--runs 3] [--shipper-args '--max-batch-bytes 8MiB']
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createBenchClient, createBucket, removeBucket } from './lib/bench-s3.mjs';
import { shebangNodeFlags } from './lib/bin-flags.mjs';
import { onLogLines, option, peakRss, servicesEnv, workerEnv } from './lib/job-bench.mjs';
import { createLogTextFiller } from './lib/log-text.mjs';
import { formatSize, parseSize } from './lib/options.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist/cli/main.js');
/** Extra shipper options to try (`--shipper-args '--max-batch-bytes 8MiB'`). */
const extraArgs = (option('shipper-args', '') ?? '').split(' ').filter(Boolean);
const say = (text) => process.stderr.write(`[bench ship-logs] ${text}\n`);

/**
 * Writes `size` bytes of log lines to `path` in 1 MiB appends; resolves with lines written.
 * `stop()` is asked before each append: an error it returns ends the append with that error.
 */
async function appendLog(path, size, stop = () => undefined) {
  const fill = createLogTextFiller(7);
  const fd = openSync(path, 'a');
  const chunk = Buffer.alloc(1024 * 1024);
  let lines = 0;
  let written = 0;
  while (written < size) {
    const stopped = stop();
    if (stopped) {
      closeSync(fd);
      throw stopped;
    }
    fill(chunk);
    // Whole lines only, so the shipper never waits on a half-written last line.
    const end = chunk.lastIndexOf(10) + 1;
    writeSync(fd, chunk, 0, end);
    for (let i = chunk.indexOf(10); i !== -1 && i < end; i = chunk.indexOf(10, i + 1)) lines++;
    written += end;
    await new Promise((r) => setImmediate(r));
  }
  closeSync(fd);
  return { lines, bytes: written };
}

async function shipOnce({ dir, env, bucket, prefix, size }) {
  const log = join(dir, 'app.log');
  const child = spawn(
    process.execPath,
    [
      ...shebangNodeFlags(CLI),
      CLI,
      'run',
      'ship-logs',
      '--path',
      log,
      '--output',
      // A prefix per run: the sequence numbers of a new spool start again, and keys already
      // taken by an earlier run would cost each batch a HEAD and a new key.
      `s3://${bucket}/${prefix}`,
      '--start-at',
      'beginning',
      // gzip -1 unless the extra options choose the codec themselves.
      ...(extraArgs.includes('--compression') ? [] : ['--compression-level', '1']),
      '--spool-dir',
      join(dir, 'spool'),
      '--log-format',
      'json',
      ...extraArgs,
    ],
    { env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  // A shipper that refuses its options exits at once: the bench says so instead of appending
  // and waiting for uploads that never come.
  let exitCode;
  child.once('exit', (code, signal) => {
    exitCode = code ?? signal;
  });
  const exitedEarly = () =>
    exitCode === undefined ? undefined : new Error(`shipper exited early with ${exitCode}`);
  let uploaded = 0;
  let lastUploadAt = 0;
  onLogLines(child.stdout, '"batch uploaded', (entry) => {
    uploaded += entry.lines;
    lastUploadAt = performance.now();
  });
  // VmHWM is the peak so far; sampled until the process ends.
  let peak = 0;
  const sampler = setInterval(() => {
    try {
      const now = peakRss(child.pid);
      if (Number.isFinite(now)) peak = Math.max(peak, now);
    } catch {
      // exited between two samples
    }
  }, 100);
  await sleep(500);
  const started = performance.now();
  const { lines, bytes } = await appendLog(log, size, exitedEarly);
  const appendedAt = performance.now();
  // Batches seal at 64 MiB or 60 s: the SIGTERM after the append seals the last one.
  child.kill('SIGTERM');
  const code = await new Promise((r) => child.once('close', r));
  clearInterval(sampler);
  if (code !== 0) throw new Error(`shipper exited with ${code}`);
  if (uploaded !== lines) throw new Error(`shipped ${uploaded} lines of ${lines}`);
  const seconds = (lastUploadAt - started) / 1000;
  return {
    lines,
    bytes,
    seconds,
    appendSeconds: (appendedAt - started) / 1000,
    linesPerSecond: lines / seconds,
    peakRss: peak,
  };
}

async function main() {
  const size = parseSize(option('size', '400MiB'));
  const runs = Number(option('runs', '3'));
  const services = servicesEnv();
  const s3 = createBenchClient({
    endpoint: services.S3_ENDPOINT,
    region: services.S3_REGION ?? 'us-east-1',
    accessKeyId: services.S3_ACCESS_KEY_ID,
    secretAccessKey: services.S3_SECRET_ACCESS_KEY,
  });
  const bucket = `s3worker-bench-logs-${randomBytes(4).toString('hex')}`;
  await createBucket(s3, bucket);
  const results = [];
  try {
    for (let run = 1; run <= runs; run++) {
      const dir = await mkdtemp(join(tmpdir(), 's3worker-bench-logs-'));
      const env = workerEnv(services, dir);
      try {
        const result = await shipOnce({ dir, env, bucket, prefix: `run-${run}/`, size });
        // gzip -1 of the very bytes the shipper read, measured right after it.
        const t0 = performance.now();
        execFileSync('gzip', ['-1', '-c', join(dir, 'app.log')], {
          stdio: ['ignore', 'ignore', 'inherit'],
          maxBuffer: 1,
        });
        const gzipSeconds = (performance.now() - t0) / 1000;
        results.push({ ...result, gzipLinesPerSecond: result.lines / gzipSeconds });
        say(
          `run ${run}: ${Math.round(result.linesPerSecond)} lines/s (${(result.bytes / 1e6 / result.seconds).toFixed(1)} MB/s), ` +
            `peak RSS ${formatSize(result.peakRss)}; gzip -1: ${Math.round(result.lines / gzipSeconds)} lines/s`,
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await removeBucket(s3, bucket);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const summary = {
    size: formatSize(size),
    lineBytes: Math.round(results[0].bytes / results[0].lines),
    runs,
    linesPerSecond: Math.round(median(results.map((r) => r.linesPerSecond))),
    mbPerSecond: Number(median(results.map((r) => r.bytes / 1e6 / r.seconds)).toFixed(1)),
    gzipLinesPerSecond: Math.round(median(results.map((r) => r.gzipLinesPerSecond))),
    peakRss: formatSize(Math.max(...results.map((r) => r.peakRss))),
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exitCode = 1;
});
