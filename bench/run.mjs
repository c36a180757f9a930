// `npm run bench`: s3worker against s5cmd and the AWS CLI on the local MinIO, measured in the
// same run. See `npm run bench -- --help` and docs/performance.md.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createBenchClient, createBucket, deletePrefix, removeBucket } from './lib/bench-s3.mjs';
import { shebangNodeFlags } from './lib/bin-flags.mjs';
import { servicesDir } from './lib/job-bench.mjs';
import { killActive, round, runSteps } from './lib/measure.mjs';
import { formatSize, parseOptions, USAGE } from './lib/options.mjs';
import { renderMarkdown, summarize } from './lib/report.mjs';
import {
  BOUND,
  CEILING,
  createTools,
  describeVariants,
  FLOOR,
  localBound,
  localFloor,
  TOOL_NAMES,
  VARIANTS,
  WARP_PUT,
  writeAwsConfigs,
} from './lib/tools.mjs';
import {
  gunzipCliText,
  gunzipText,
  gzipText,
  unzstdCliText,
  unzstdText,
  zstdText,
} from './scenarios/codec-text.mjs';
import copyThrough from './scenarios/copy-through.mjs';
import manySmall from './scenarios/many-small.mjs';
import queueMode from './scenarios/queue-mode.mjs';
import rssFlat from './scenarios/rss-flat.mjs';
import uploadStream from './scenarios/upload-stream.mjs';

/**
 * @typedef {object} Scenario
 * @property {string} id
 * @property {string} title
 * @property {'MB/s' | 'objects/s'} unit
 * @property {boolean} [needsLocalDir]
 * @property {{ tool: string, variant: string }} [onlyTool]
 * @property {{ tool: string, variant: string }[]} [runners] its own runners instead of the tools
 * @property {(options: object) => number[]} [sizes]
 * @property {string} [codec] the codec of a codec scenario (gzip, zstd, gunzip, unzstd)
 * @property {(tools: object, ctx: object) => object[][]} [bound] the C tool alone on a local
 *   copy of the source, run on every core as the physical bound and on one thread (`ctx.floor`)
 *   as the CPU floor
 * @property {{ tool: string, variant: string }[]} [extraRunners] runs after the tools' (warp's
 *   PUT ceiling in (a)); their `verify` returns `{ verified, work }` with the bytes and seconds
 *   the row's throughput counts
 * @property {(ctx: object) => Promise<object[]>} [runAll] runs every setting itself (its own
 *   processes and queues) instead of one command line per tool and variant
 */

const execFileAsync = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SCENARIOS = {
  a: copyThrough,
  b: manySmall,
  c: gzipText,
  d: zstdText,
  e: gunzipText,
  e1: gunzipCliText,
  f: unzstdText,
  f1: unzstdCliText,
  rss: rssFlat,
  u: uploadStream,
  q: queueMode,
};

const say = (text) => process.stderr.write(`[bench] ${text}\n`);

async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error.message}\n\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  // The jobs' own benches run as their scripts, after the scenarios measured here.
  const external = options.scenarios.filter((id) => id in JOB_BENCHES);
  options.scenarios = options.scenarios.filter((id) => !(id in JOB_BENCHES));
  if (options.scenarios.length > 0) await measure(options);
  for (const id of external) await runJobBench(id, options);
}

/**
 * The jobs' benches (`bench/<job>.mjs`): each needs work running beside the measured process (a
 * writer appending to the file the shipper follows, a database to dump), so it drives its own
 * runs and prints its own table, with the peers measured in the same run.
 */
const JOB_BENCHES = {
  logs: { script: 'ship-logs.mjs', runs: 3 },
  db: { script: 'db-backup.mjs', runs: 1 },
  qmem: { script: 'queue-memory.mjs', runs: 1 },
  lmem: { script: 'listing-memory.mjs', runs: 1 },
  enq: { script: 'enqueue.mjs', runs: 1 },
  sources: { script: 'backfill-sources.mjs', runs: 1 },
};

function runJobBench(id, options) {
  const { script, runs } = JOB_BENCHES[id];
  say(`${id}: node bench/${script}`);
  return new Promise((resolveRun) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bench', script), '--runs', String(Math.max(runs, options.repeat))],
      { stdio: 'inherit' },
    );
    child.once('close', (code, signal) => {
      if (code !== 0) {
        say(`${id}: bench/${script} ended with ${signal ?? code}`);
        process.exitCode = 1;
      }
      resolveRun();
    });
  });
}

async function measure(options) {
  const startedAt = new Date();
  const loadAtStart = loadavg().map((n) => round(n, 2));

  say('setting up the peers (bench/setup.sh)');
  const setup = JSON.parse(await runSetup());
  const services = await readServicesEnv();
  const endpoint = services.S3_ENDPOINT;
  const region = services.S3_REGION ?? 'us-east-1';

  const tmpDir = await mkdtemp(join(tmpdir(), 's3worker-bench-'));
  const id = `${startedAt.getTime().toString(36)}-${randomBytes(3).toString('hex')}`;
  // warp's bucket is made by warp (which deletes every object in it), only when it runs.
  const buckets = {
    input: `s3worker-bench-${id}-in`,
    output: `s3worker-bench-${id}-out`,
    warp: `s3worker-bench-${id}-warp`,
  };
  const s3 = createBenchClient({
    endpoint,
    region,
    accessKeyId: services.S3_ACCESS_KEY_ID,
    secretAccessKey: services.S3_SECRET_ACCESS_KEY,
  });

  // Only what the tools need: credentials in the environment (never in argv), no shared
  // credentials or config file of this machine, and no instance-metadata lookups.
  const baseEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C.UTF-8',
    TMPDIR: tmpDir,
    AWS_ACCESS_KEY_ID: services.S3_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: services.S3_SECRET_ACCESS_KEY,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_SHARED_CREDENTIALS_FILE: join(tmpDir, 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  // warp reads its host, credentials and region from WARP_* (never argv), nothing else.
  const warpEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: tmpDir,
    WARP_HOST: new URL(endpoint).host,
    WARP_ACCESS_KEY: services.S3_ACCESS_KEY_ID,
    WARP_SECRET_KEY: services.S3_SECRET_ACCESS_KEY,
    WARP_REGION: region,
  };
  const serverPid = await minioPid();
  const measureOptions = {
    tmpDir,
    timeBin: setup.time.bin,
    timeoutMs: options.timeoutMs,
    ...(serverPid !== undefined && { serverPid }),
  };

  const results = {
    startedAt: startedAt.toISOString(),
    command: [
      'npm run bench',
      ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : []),
    ].join(' '),
    machine: {
      nproc: cpus().length,
      memoryBytes: totalmem(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      minio: setup.minio.version,
      loadAverageAtStart: loadAtStart,
    },
    tools: {
      s3worker: await s3workerRevision(),
      s5cmd: setup.s5cmd.version,
      warp: setup.warp.version,
      aws: setup.aws.version,
      gzip: setup.gzip.version,
      zstd: setup.zstd.version,
      pigz: setup.pigz.version,
      time: setup.time.version,
    },
    settings: describeVariants({
      warpSeconds:
        options.scenarios.includes('a') && options.tools.includes('warp')
          ? options.warpSeconds
          : undefined,
    }),
    options: { ...options, help: undefined, keep: undefined },
    scenarios: [],
  };

  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    say('interrupted: stopping the running tools, then cleaning up');
    killActive();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const s3worker = await checkS3worker(baseEnv);
    const awsConfigFiles = await writeAwsConfigs({
      awsBin: setup.aws.bin,
      tmpDir,
      env: baseEnv,
      timeBin: setup.time.bin,
    });
    const bins = {
      s5cmd: setup.s5cmd.bin,
      warp: setup.warp.bin,
      aws: setup.aws.bin,
      gzip: setup.gzip.bin,
      zstd: setup.zstd.bin,
      pigz: setup.pigz.bin,
      node: process.execPath,
      s3worker: s3worker.bin,
      // The bin's shebang (`#!/usr/bin/env -S node <flags>`) carries V8 flags: pass the same.
      s3workerNodeFlags: shebangNodeFlags(s3worker.bin),
    };
    const codecs = Object.entries({ c: 'gzip', d: 'zstd', 'e, e1': 'gunzip', 'f, f1': 'unzstd' });
    results.settings.local = {
      bound: codecs.map(([id, codec]) => `(${id}) ${localBound(bins, codec).label}`).join(', '),
      floor: codecs.map(([id, codec]) => `(${id}) ${localFloor(bins, codec).label}`).join(', '),
    };
    const tools = createTools({
      endpoint,
      bins,
    });
    await createBucket(s3, buckets.input);
    await createBucket(s3, buckets.output);
    say(`buckets ${buckets.input}, ${buckets.output}; temp ${tmpDir}`);

    for (const scenarioId of options.scenarios) {
      const scenario = SCENARIOS[scenarioId];
      const sizes = scenario.sizes ? scenario.sizes(options) : [undefined];
      for (const size of sizes) {
        if (interrupted) break;
        const entry = await runScenario({
          scenario,
          size,
          options,
          s3,
          buckets,
          tools,
          s3worker,
          tmpDir,
          env: (variant, tool) =>
            tool === CEILING.tool
              ? warpEnv
              : { ...baseEnv, AWS_CONFIG_FILE: awsConfigFiles[variant] },
          measureOptions,
          isInterrupted: () => interrupted,
          sqsEndpoint: services.SQS_ENDPOINT,
        });
        results.scenarios.push(entry);
      }
    }
  } finally {
    results.finishedAt = new Date().toISOString();
    if (options.keep) {
      say(`kept buckets ${buckets.input}, ${buckets.output} and ${tmpDir}`);
    } else {
      for (const bucket of Object.values(buckets)) {
        await removeBucket(s3, bucket).catch((error) => {
          if (error?.name !== 'NoSuchBucket') say(`could not remove ${bucket}: ${error.message}`);
        });
      }
      await rm(tmpDir, { recursive: true, force: true });
    }
    s3.destroy();
  }

  results.summary = summarize(results);
  const markdown = renderMarkdown(results);
  const outDir = resolve(ROOT, options.out);
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(outDir, 'latest.md'), markdown);
  process.stdout.write(markdown);
  say(`wrote ${join(outDir, 'latest.json')} and latest.md`);
  if (interrupted) process.exitCode = 130;
}

async function runScenario(ctx) {
  const { scenario, size, options, s3, buckets } = ctx;
  const scenarioOptions = size === undefined ? options : { ...options, size };
  const label = size === undefined ? scenario.id : `${scenario.id} ${formatSize(size)}`;
  say(`${label}: generating the source data`);
  const prepStarted = Date.now();
  const src = await scenario.prepare({
    s3,
    buckets,
    options: scenarioOptions,
    size,
    tmpDir: ctx.tmpDir,
    bins: ctx.tools.local.bins,
  });
  say(
    `${label}: ${scenario.describe(src)} ready in ${round((Date.now() - prepStarted) / 1000, 1)} s`,
  );
  const work = scenario.work(src);
  const entry = {
    id: scenario.id,
    title: scenario.title,
    unit: scenario.unit,
    source: scenario.describe(src),
    work,
    runs: [],
  };
  if (scenario.runAll) {
    entry.runs = await scenario.runAll({ ...ctx, src, label, say });
    if (!options.keep) await deletePrefix(s3, src.bucket, src.prefix);
    return entry;
  }
  // The C tool on every core, then on one thread; where both are the same command (zstd -d
  // decodes on one thread), one run is both.
  const bins = ctx.tools.local.bins;
  const boundIsFloor =
    scenario.bound &&
    localBound(bins, scenario.codec).label === localFloor(bins, scenario.codec).label;
  const combos = [
    ...(scenario.runners ??
      (scenario.onlyTool
        ? [scenario.onlyTool]
        : TOOL_NAMES.flatMap((tool) => VARIANTS.map((variant) => ({ tool, variant }))))),
    ...(scenario.extraRunners ?? []),
    ...(scenario.bound ? (boundIsFloor ? [FLOOR] : [BOUND, FLOOR]) : []),
  ];
  // Every tool and setting that runs, in order; with --repeat, the rounds interleave them
  // (each tool once per round), so a slow spell of the shared machine or of MinIO falls on
  // every tool alike instead of on whichever ran its repeats then.
  const planned = [];
  for (const { tool, variant } of combos) {
    const listed = TOOL_NAMES.includes(tool) || tool === BOUND.tool || tool === CEILING.tool;
    if (listed && !options.tools.includes(tool)) continue;
    const ownVariants =
      scenario.onlyTool || scenario.runners || tool === BOUND.tool || tool === CEILING.tool;
    if (!ownVariants && !options.variants.includes(variant)) continue;
    const run = { tool, variant };
    if (tool === BOUND.tool) {
      run.setting =
        variant === FLOOR.variant
          ? `${localFloor(bins, scenario.codec).label}, one thread, local file` +
            (boundIsFloor ? ' (also the bound)' : '')
          : `${localBound(bins, scenario.codec).label}, the fastest C tool, local file`;
    }
    if (boundIsFloor && variant === FLOOR.variant) run.alsoBound = true;
    if (tool === CEILING.tool) {
      run.setting = `put, ${WARP_PUT.objectSize} objects, ${WARP_PUT.concurrent} in flight, ${options.warpSeconds} s`;
    }
    if (tool === 's3worker' && !ctx.s3worker.ok) {
      run.error = `not runnable: ${ctx.s3worker.reason}`;
      say(`${label} ${tool} ${variant}: skipped (${run.error})`);
    }
    planned.push({ run, attempts: [] });
  }
  for (let i = 0; i < options.repeat && !ctx.isInterrupted(); i++) {
    for (const { run, attempts } of planned) {
      if (ctx.isInterrupted()) break;
      if (run.error || attempts.some((a) => a.error)) continue;
      const { tool, variant } = run;
      const attempt = await runOnce({ ...ctx, src, label, tool, variant, attempt: i });
      if (!attempt.error) Object.assign(attempt, rates(scenario, work, attempt));
      attempts.push(attempt);
    }
  }
  for (const { run, attempts } of planned) {
    if (!run.error) {
      // The median by throughput: by wall time for the same work, and by warp's own measure.
      const failed = attempts.find((a) => a.error);
      const ok = attempts.filter((a) => !a.error).sort((x, y) => y.throughput - x.throughput);
      const median = failed ?? ok[Math.floor((ok.length - 1) / 2)];
      Object.assign(run, median);
      if (options.repeat > 1) {
        run.allWallSeconds = attempts.map((a) => a.wallSeconds);
        run.allCpuSeconds = attempts.map((a) => a.cpuSeconds);
        run.allServerCpuSeconds = attempts.map((a) => a.serverCpuSeconds);
      }
    }
    if (run.error || attempts.length > 0) entry.runs.push(run);
  }
  if (!options.keep) await deletePrefix(s3, src.bucket, src.prefix);
  if (src.localFile && !options.keep) await rm(src.localFile, { force: true });
  return entry;
}

const GiB = 1024 ** 3;

/**
 * The local MinIO's process id, from the pid file `scripts/test-services.sh` keeps (its
 * S3WORKER_SERVICES_DIR), when that process is a MinIO: the bench reports its CPU beside each
 * run's, as it shares the cores with the clients. Undefined when the endpoint is another server.
 */
async function minioPid() {
  const pidFile = join(servicesDir(), 'minio.pid');
  const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
  if (!Number.isInteger(pid)) return undefined;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes('minio') ? pid : undefined;
}

/**
 * A run's throughput (in the scenario's unit), MB/s and CPU seconds per GiB: of the scenario's
 * work, or of what the run reports it did (warp: MB/s over its analysis, CPU per GiB it PUT).
 */
function rates(scenario, work, run) {
  if (run.work) {
    return {
      throughput: round(run.work.bytes / 1e6 / run.work.seconds, 1),
      mbPerSecond: round(run.work.bytes / 1e6 / run.work.seconds, 1),
      cpuSecondsPerGiB: round(run.cpuSeconds / (run.work.totalBytes / GiB), 2),
    };
  }
  return {
    throughput:
      scenario.unit === 'objects/s'
        ? round(work.objects / run.wallSeconds, 1)
        : round(work.bytes / 1e6 / run.wallSeconds, 1),
    mbPerSecond: round(work.bytes / 1e6 / run.wallSeconds, 1),
    cpuSecondsPerGiB: round(run.cpuSeconds / (work.bytes / GiB), 2),
  };
}

async function runOnce({
  scenario,
  src,
  label,
  tool,
  variant,
  attempt,
  options,
  s3,
  buckets,
  tools,
  tmpDir,
  env,
  measureOptions,
  s3worker,
}) {
  const dst = scenario.destination(buckets.output, `${scenario.id}/${tool}-${variant}-${attempt}/`);
  const localDir = scenario.needsLocalDir ? await mkdtemp(join(tmpDir, `${tool}-`)) : undefined;
  const bound = tool === BOUND.tool;
  const runner = { tool, variant };
  const pipelines = bound
    ? scenario.bound(tools, { src, floor: variant === FLOOR.variant })
    : scenario.plan(tools[tool], {
        variant,
        src,
        dst,
        localDir,
        runner,
        buckets,
        options,
        tmpDir,
        attempt,
        root: ROOT,
        node: process.execPath,
        nodeFlags: s3worker.ok ? shebangNodeFlags(s3worker.bin) : [],
      });
  const outcome = {};
  try {
    const measured = await runSteps(pipelines, { ...measureOptions, env: env(variant, tool) });
    Object.assign(outcome, {
      wallSeconds: measured.wallSeconds,
      cpuSeconds: measured.cpuSeconds,
      ...(measured.serverCpuSeconds !== undefined && {
        serverCpuSeconds: measured.serverCpuSeconds,
      }),
      peakRssBytes: measured.peakRssBytes,
      rssSumBytes: measured.rssSumBytes,
      processes: measured.processes,
    });
    // The bound's output is discarded: its exit status is the check.
    const verified = bound
      ? 'exit status (output discarded)'
      : await scenario.verify({
          s3,
          src,
          dst,
          options,
          runner,
          stdout: measured.stdout,
          zstdBin: tools.local.bins.zstd,
        });
    if (typeof verified === 'string') {
      outcome.verified = verified;
    } else {
      outcome.verified = verified.verified;
      outcome.work = verified.work;
    }
    say(
      `${label} ${tool} ${variant}: ${measured.wallSeconds} s wall, ${measured.cpuSeconds} s CPU, ` +
        `peak RSS ${formatSize(measured.rssSumBytes)}; verified (${outcome.verified})`,
    );
  } catch (error) {
    outcome.error = error.message.slice(0, 2000);
    say(`${label} ${tool} ${variant}: FAILED: ${outcome.error}`);
  } finally {
    if (localDir) await rm(localDir, { recursive: true, force: true });
    if (!options.keep) await deletePrefix(s3, dst.bucket, dst.prefix).catch(() => {});
  }
  return outcome;
}

/** Whether `node dist/cli/main.js run stream-transform --help` works (the build is there). */
async function checkS3worker(env) {
  const bin = join(ROOT, 'dist', 'cli', 'main.js');
  if (!existsSync(bin))
    return { ok: false, bin, reason: 'dist/cli/main.js is missing (run npm run build)' };
  try {
    await execFileAsync(process.execPath, [bin, 'run', 'stream-transform', '--help'], {
      env,
      timeout: 60_000,
    });
    return { ok: true, bin };
  } catch (error) {
    const detail = `${error.stderr ?? ''}${error.stdout ?? ''}`
      .trim()
      .split('\n')
      .slice(-3)
      .join(' ');
    return {
      ok: false,
      bin,
      reason: `run stream-transform --help failed: ${detail.slice(0, 300)}`,
    };
  }
}

/** The commit measured, `+changes` when src/ differs from it, and when dist/ was built. */
async function s3workerRevision() {
  const git = (args) =>
    execFileAsync('git', ['-C', ROOT, ...args]).then(({ stdout }) => stdout.trim());
  try {
    const commit = await git(['rev-parse', '--short', 'HEAD']);
    const dirty = await git(['status', '--porcelain', '--', 'src']);
    // The bench runs dist/, which may be older than the work tree: say when it was built.
    const built = await stat(join(ROOT, 'dist', 'cli', 'main.js'))
      .then((s) => `, dist built ${s.mtime.toISOString().slice(0, 16).replace('T', ' ')} UTC`)
      .catch(() => '');
    return `${commit}${dirty ? '+changes' : ''}${built}`;
  } catch {
    return 'unknown';
  }
}

function runSetup() {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [join(ROOT, 'bench', 'setup.sh')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolvePromise(out) : reject(new Error(`bench/setup.sh exited with ${code}`)),
    );
  });
}

/** The `export K=V` lines of `scripts/test-services.sh env` as an object. */
async function readServicesEnv() {
  const { stdout } = await execFileAsync('bash', [
    join(ROOT, 'scripts', 'test-services.sh'),
    'env',
  ]);
  const env = {};
  for (const line of stdout.split('\n')) {
    const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) env[match[1]] = match[2].replace(/^'(.*)'$/, '$1');
  }
  return env;
}

main().catch((error) => {
  console.error(`[bench] failed: ${error.stack ?? error.message}`);
  process.exitCode = 1;
});
