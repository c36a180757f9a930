// ship-logs throughput: lines/s of ~200-byte log lines, gzip level 1, from a file being
// appended while the shipper follows it, beside `gzip -1` of the same bytes in the same run
// (the physical bound of this pipeline on this machine). Needs `npm run build` and the local
// MinIO (scripts/test-services.sh start).
//
// The cost of metrics: each run ships twice, with `--metrics off` and with `--metrics emf
// --metrics-interval 1s` (a metric line every second, 60 times the default rate), in turns so
// neither always goes first, and reports both rates and their ratio. `--metrics off` or
// `--metrics emf` ships once per run, that way only.
//
//   node bench/ship-logs.mjs [--size 400MiB] [--runs 3] [--metrics compare|off|emf]
//                            [--shipper-args '--max-batch-bytes 8MiB']
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
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
/** The shipper's metric options in each mode. */
const METRICS_ARGS = {
  off: ['--metrics', 'off'],
  emf: ['--metrics', 'emf', '--metrics-interval', '1s'],
};
const say = (text) => process.stderr.write(`[bench ship-logs] ${text}\n`);
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/**
 * CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat;
 * NaN once it is gone. Less disturbed than lines/s by other work on a shared machine.
 */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name in parentheses: state is the first, utime the 12th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

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

async function shipOnce({ dir, env, bucket, prefix, size, metrics }) {
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
      ...METRICS_ARGS[metrics],
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
  // The metric lines, and their LinesShipped summed: with metrics on they must add up to the
  // lines shipped, or the bench did not measure what it says.
  let metricLines = 0;
  let linesShippedMetric = 0;
  onLogLines(child.stdout, '"_aws"', (entry) => {
    metricLines++;
    linesShippedMetric += entry.LinesShipped ?? 0;
  });
  // VmHWM is the peak so far; sampled until the process ends, with its CPU time (the last
  // sample misses at most 100 ms of the exit, alike in every mode).
  let peak = 0;
  let cpu = 0;
  const sampler = setInterval(() => {
    try {
      const now = peakRss(child.pid);
      if (Number.isFinite(now)) peak = Math.max(peak, now);
      const used = cpuSeconds(child.pid);
      if (Number.isFinite(used)) cpu = used;
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
  if (metrics === 'off' && metricLines > 0) throw new Error('metric lines with --metrics off');
  if (metrics === 'emf' && linesShippedMetric !== lines) {
    throw new Error(
      `LinesShipped sums to ${linesShippedMetric} over ${metricLines} lines, not ${lines}`,
    );
  }
  const seconds = (lastUploadAt - started) / 1000;
  return {
    lines,
    bytes,
    seconds,
    appendSeconds: (appendedAt - started) / 1000,
    linesPerSecond: lines / seconds,
    peakRss: peak,
    cpuSeconds: cpu,
    metricLines,
  };
}

async function main() {
  const size = parseSize(option('size', '400MiB'));
  const runs = Number(option('runs', '3'));
  const mode = option('metrics', 'compare');
  if (!['compare', 'off', 'emf'].includes(mode)) {
    throw new Error(`--metrics ${mode}: compare, off or emf`);
  }
  const services = servicesEnv();
  const s3 = createBenchClient({
    endpoint: services.S3_ENDPOINT,
    region: services.S3_REGION ?? 'us-east-1',
    accessKeyId: services.S3_ACCESS_KEY_ID,
    secretAccessKey: services.S3_SECRET_ACCESS_KEY,
  });
  const bucket = `s3worker-bench-logs-${randomBytes(4).toString('hex')}`;
  await createBucket(s3, bucket);
  const results = { off: [], emf: [] };
  const gzipRates = [];
  try {
    for (let run = 1; run <= runs; run++) {
      // In turns: off first in odd runs, emf first in even ones.
      const modes = mode === 'compare' ? (run % 2 === 1 ? ['off', 'emf'] : ['emf', 'off']) : [mode];
      for (const metrics of modes) {
        const dir = await mkdtemp(join(tmpdir(), 's3worker-bench-logs-'));
        const env = workerEnv(services, dir);
        try {
          const result = await shipOnce({
            dir,
            env,
            bucket,
            prefix: `run-${run}-${metrics}/`,
            size,
            metrics,
          });
          results[metrics].push(result);
          let gzipNote = '';
          if (metrics === modes[0]) {
            // gzip -1 of the very bytes the shipper read, measured right after it.
            const t0 = performance.now();
            execFileSync('gzip', ['-1', '-c', join(dir, 'app.log')], {
              stdio: ['ignore', 'ignore', 'inherit'],
              maxBuffer: 1,
            });
            const gzipSeconds = (performance.now() - t0) / 1000;
            gzipRates.push(result.lines / gzipSeconds);
            gzipNote = `; gzip -1: ${Math.round(result.lines / gzipSeconds)} lines/s`;
          }
          say(
            `run ${run}, metrics ${metrics}: ${Math.round(result.linesPerSecond)} lines/s (${(result.bytes / 1e6 / result.seconds).toFixed(1)} MB/s), ` +
              `peak RSS ${formatSize(result.peakRss)}, CPU ${result.cpuSeconds.toFixed(2)} s, ` +
              `${result.metricLines} metric lines${gzipNote}`,
          );
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await removeBucket(s3, bucket);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const all = [...results.off, ...results.emf];
  const rate = (rs) =>
    rs.length === 0 ? undefined : Math.round(median(rs.map((r) => r.linesPerSecond)));
  const summary = {
    size: formatSize(size),
    lineBytes: Math.round(all[0].bytes / all[0].lines),
    runs,
    metrics: mode,
    linesPerSecond: rate(mode === 'emf' ? results.emf : results.off),
    mbPerSecond: Number(median(all.map((r) => r.bytes / 1e6 / r.seconds)).toFixed(1)),
    gzipLinesPerSecond: Math.round(median(gzipRates)),
    peakRss: formatSize(Math.max(...all.map((r) => r.peakRss))),
  };
  if (mode === 'compare') {
    summary.linesPerSecondMetricsOff = rate(results.off);
    summary.linesPerSecondMetricsOn = rate(results.emf);
    // Each run's pair, on / off: the machine's drift between runs cancels within a pair.
    const ratios = results.emf.map((r, i) => r.linesPerSecond / results.off[i].linesPerSecond);
    summary.metricsOnOffRatios = ratios.map((x) => Number(x.toFixed(3)));
    summary.metricsOnOffRatio = Number(median(ratios).toFixed(3));
    // CPU per line, on / off: what the metrics cost the process itself, whatever else runs.
    const cpuPerLine = (rs) => median(rs.map((r) => r.cpuSeconds / r.lines));
    summary.cpuMicrosecondsPerLineOff = Number((cpuPerLine(results.off) * 1e6).toFixed(3));
    summary.cpuMicrosecondsPerLineOn = Number((cpuPerLine(results.emf) * 1e6).toFixed(3));
    summary.metricsCpuOnOffRatio = Number(
      (cpuPerLine(results.emf) / cpuPerLine(results.off)).toFixed(3),
    );
  }
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exitCode = 1;
});
