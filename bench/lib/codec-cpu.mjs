// CPU per GiB of a compressing stage alone, without S3: log text from memory through the
// stage (from dist/) into a sink that copies each chunk once into a reused 8 MiB buffer, as the
// upload does, beside the C tool on a local file of the same text.
//
//   node bench/lib/codec-cpu.mjs --codec zstd --size 512MiB [--level 1] [--tool]
//
// Runs itself again under the `s3worker` bin's V8 flags (its shebang), so it measures what the
// bin runs. Reports, per GiB of input: CPU seconds of the whole process (process.cpuUsage) and
// split by thread (Linux: /proc/self/task — the main thread, libuv's pool where zlib and zstd
// run, V8's helper threads where the collector marks and sweeps), the full and minor
// collections V8 ran (perf_hooks 'gc' entries) and their main-thread pauses. --codec none is a
// PassThrough: the cost of the stream machinery and the sink alone. --fresh-chunks hands the
// stage each chunk in a buffer of its own, as a socket does (default: slices of one buffer).
// With --tool it also runs `zstd -<level>` or `gzip -<level>` on a temporary file of the same
// text under /usr/bin/time (user + sys), output to /dev/null: the floor.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PerformanceObserver, constants as perf } from 'node:perf_hooks';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { shebangNodeFlags } from './bin-flags.mjs';
import { createLogTextFiller } from './log-text.mjs';
import { parseSize } from './options.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const binFlags = shebangNodeFlags(join(root, 'src', 'cli', 'main.ts'));
if (process.env.CODEC_CPU_CHILD === undefined) {
  // Again, under the bin's flags (and any given to this node).
  const run = spawnSync(
    process.execPath,
    [...binFlags, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, CODEC_CPU_CHILD: '1' } },
  );
  process.exit(run.status ?? 1);
}

const { values } = parseArgs({
  options: {
    codec: { type: 'string', default: 'zstd' },
    size: { type: 'string', default: '512MiB' },
    level: { type: 'string', default: '1' },
    'block-size': { type: 'string' },
    concurrency: { type: 'string' },
    chunk: { type: 'string', default: '64KiB' },
    'fresh-chunks': { type: 'boolean', default: false },
    tool: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

const GiB = 1024 ** 3;
const size = parseSize(values.size);
const level = Number(values.level);
const chunkSize = parseSize(values.chunk);
/** The text repeats every 64 MiB: far more than a block, so no block sees an earlier copy of itself. */
const textSize = Math.min(size, 64 * 1024 ** 2);
const text = Buffer.allocUnsafeSlow(textSize);
createLogTextFiller()(text);

async function createStage() {
  const options = {
    level,
    ...(values['block-size'] ? { blockSize: parseSize(values['block-size']) } : {}),
    ...(values.concurrency ? { concurrency: Number(values.concurrency) } : {}),
  };
  if (values.codec === 'none') return new PassThrough();
  if (values.codec === 'zstd') {
    const { ParallelZstd } = await import('../../dist/jobs/kit/parallel-zstd.js');
    return new ParallelZstd(options);
  }
  if (values.codec === 'gzip') {
    const { ParallelGzip } = await import('../../dist/jobs/kit/parallel-gzip.js');
    return new ParallelGzip(options);
  }
  throw new Error(`unknown codec ${values.codec} (zstd, gzip, none)`);
}

/** `size` bytes of the text in `chunkSize` pieces. */
function* source() {
  for (let sent = 0; sent < size; ) {
    const at = sent % textSize;
    const n = Math.min(chunkSize, size - sent, textSize - at);
    const slice = text.subarray(at, at + n);
    yield values['fresh-chunks'] ? Buffer.from(slice) : slice;
    sent += n;
  }
}

/** Copies each chunk once into a reused part-sized buffer, as the upload does. */
function copyingSink() {
  const part = Buffer.allocUnsafeSlow(8 * 1024 ** 2);
  let filled = 0;
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk, _encoding, done) {
      sink.bytes += chunk.length;
      for (let at = 0; at < chunk.length; ) {
        const n = chunk.copy(part, filled, at);
        at += n;
        filled = (filled + n) % part.length;
      }
      done();
    },
  });
  sink.bytes = 0;
  return sink;
}

/** CPU seconds per thread name so far (Linux; empty elsewhere). */
function threadCpu() {
  const byName = {};
  let tasks = [];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return byName;
  }
  for (const task of tasks) {
    try {
      const stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime, in clock ticks (100 per second on Linux).
      byName[name] = (byName[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // The thread ended meanwhile.
    }
  }
  return byName;
}

async function runStage() {
  const gc = { full: 0, minor: 0, pauseMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = entry.detail?.kind ?? entry.kind;
      gc.pauseMs += entry.duration;
      if (kind === perf.NODE_PERFORMANCE_GC_MAJOR) gc.full++;
      else if (kind === perf.NODE_PERFORMANCE_GC_MINOR) gc.minor++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const stage = await createStage();
  const sink = copyingSink();
  const threadsBefore = threadCpu();
  const before = process.cpuUsage();
  const started = performance.now();
  await pipeline(Readable.from(source()), stage, sink);
  const cpu = process.cpuUsage(before);
  const threadsAfter = threadCpu();
  const seconds = (performance.now() - started) / 1000;
  await new Promise((resolve) => setImmediate(resolve));
  observer.disconnect();
  const perGiB = (x) => (x * GiB) / size;
  const threads = {};
  for (const [name, s] of Object.entries(threadsAfter)) {
    const used = s - (threadsBefore[name] ?? 0);
    if (used >= 0.01) threads[name] = Math.round(perGiB(used) * 100) / 100;
  }
  return {
    what:
      values.codec === 'none'
        ? 'PassThrough (no codec)'
        : `${values.codec} -${level}: this project's stage`,
    cpuSPerGiB: perGiB((cpu.user + cpu.system) / 1e6),
    threadsCpuSPerGiB: threads,
    wallS: seconds,
    ratio: size / sink.bytes,
    gcFullPerGiB: perGiB(gc.full),
    gcMinorPerGiB: perGiB(gc.minor),
    gcPauseMsPerGiB: perGiB(gc.pauseMs),
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

function runTool() {
  const dir = mkdtempSync(join(tmpdir(), 'codec-cpu-'));
  try {
    const file = join(dir, 'text');
    // The same bytes the stage sees: the text repeated up to `size`.
    for (let written = 0; written < size; written += textSize) {
      writeFileSync(file, text.subarray(0, Math.min(textSize, size - written)), {
        flag: written === 0 ? 'w' : 'a',
      });
    }
    const tool =
      values.codec === 'gzip'
        ? ['gzip', `-${level}`, '-c', file]
        : ['zstd', `-${level}`, '-q', '-c', file];
    const run = spawnSync('/usr/bin/time', ['-f', '%U %S %e', ...tool], {
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
    });
    if (run.status !== 0) throw new Error(`${tool[0]} failed: ${run.stderr}`);
    const [user, sys, wall] = run.stderr.trim().split('\n').at(-1).split(' ').map(Number);
    return {
      what: `${tool.slice(0, 2).join(' ')} on a local file`,
      cpuSPerGiB: ((user + sys) * GiB) / size,
      wallS: wall,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [await runStage()];
if (values.tool && values.codec !== 'none') results.push(runTool());
const out = (line) => process.stdout.write(`${line}\n`);
if (values.json) {
  out(JSON.stringify(results));
} else {
  const chunks = `${values['fresh-chunks'] ? 'fresh' : 'sliced'} ${values.chunk} chunks`;
  out(`${values.size} of log text, ${chunks}; node ${binFlags.join(' ')}`);
  for (const r of results) {
    out(`${r.what}: ${r.cpuSPerGiB.toFixed(2)} CPU s/GiB, wall ${r.wallS.toFixed(2)} s`);
    if (r.threadsCpuSPerGiB) {
      const split = Object.entries(r.threadsCpuSPerGiB).map(([k, v]) => `${k} ${v.toFixed(2)}`);
      const gc = `${r.gcFullPerGiB.toFixed(0)} full and ${r.gcMinorPerGiB.toFixed(0)} minor collections`;
      out(`  by thread (CPU s/GiB): ${split.join(', ')}`);
      out(
        `  ratio ${r.ratio.toFixed(2)}; per GiB: ${gc}, ${r.gcPauseMsPerGiB.toFixed(0)} ms paused; peak RSS ${r.peakRssMiB.toFixed(0)} MiB`,
      );
    }
  }
}
