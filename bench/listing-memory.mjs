// A listing run's memory against the number of objects: one `stream-transform` run (defaults,
// identity copy) over `--small` and over `--large` objects of `--object-size` bytes, its peak
// RSS (VmHWM) and its RSS at every tenth of the objects read from /proc while it runs. A run
// holds memory in proportion to the work in flight, never to the objects done, so both peaks
// should agree within noise (10%). Needs `npm run build`, the local MinIO
// (scripts/test-services.sh start), and time: the objects are written first (many PUTs at once).
//
//   node bench/listing-memory.mjs [--small 20000] [--large 200000] [--object-size 1KiB]
//                                 [--put-concurrency 64] [--cli dist/cli/main.js]
//                                 [--input-bucket NAME] [--keep-input]
//
// The first `--small` objects sit under obj/a/, the rest under obj/b/: the small run lists
// obj/a/, the large one obj/. `--keep-input` keeps the input bucket (its name is printed) and
// `--input-bucket` reuses one made so, to measure another build (`--cli`) without writing the
// objects again.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { createBenchClient, createBucket, removeBucket } from './lib/bench-s3.mjs';
import { shebangNodeFlags } from './lib/bin-flags.mjs';
import { onLogLines, option, servicesEnv, workerEnv } from './lib/job-bench.mjs';
import { formatSize, parseSize } from './lib/options.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = resolve(option('cli', join(ROOT, 'dist/cli/main.js')));
const say = (text) => process.stderr.write(`[bench listing-memory] ${text}\n`);
const MiB = 1024 * 1024;
/** How often RSS is read besides each progress line. */
const SAMPLE_MS = 250;

/** VmRSS and VmHWM (peak) of a process now, bytes; undefined once it is gone. */
function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1]) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** The key of object `i`: the first `small` under obj/a/, the rest under obj/b/. */
function keyOf(i, small) {
  return `obj/${i < small ? 'a' : 'b'}/${String(i).padStart(7, '0')}.bin`;
}

/** Writes `count` objects of `size` random bytes, `concurrency` PUTs at once. */
async function writeObjects(s3, bucket, count, small, size, concurrency) {
  const limit = pLimit(concurrency);
  const started = performance.now();
  let written = 0;
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      limit(async () => {
        await s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: keyOf(i, small), Body: randomBytes(size) }),
        );
        if (++written % 20_000 === 0) say(`${written} objects written`);
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  say(`${count} objects written in ${Math.round(seconds)} s (${Math.round(count / seconds)}/s)`);
}

/** One run over `objects` objects under `prefix` into `output`/`objects`/ (empty at start). */
async function measureRun({ services, dir, input, prefix, output, objects }) {
  const child = spawn(
    process.execPath,
    [
      ...shebangNodeFlags(CLI),
      CLI,
      'run',
      'stream-transform',
      '--input',
      `s3://${input}/${prefix}`,
      '--output',
      `s3://${output}/${objects}/`,
      '--progress-interval',
      '1s',
      '--log-format',
      'json',
    ],
    { env: workerEnv(services, dir), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((r) => child.once('close', r));
  const samples = [];
  let peak = 0;
  const sample = (settled) => {
    const m = memory(child.pid);
    if (m === undefined) return;
    peak = Math.max(peak, m.peak);
    if (settled !== undefined) samples.push({ settled, rss: m.rss });
  };
  const timer = setInterval(() => sample(), SAMPLE_MS);
  let finished;
  let summary;
  onLogLines(child.stdout, '"msg":"', (entry) => {
    if (entry.msg === 'progress') {
      const { done, skipped, failed } = entry.objects;
      sample(done + skipped + failed);
    } else if (entry.msg === 'stream-transform finished') {
      finished = entry;
      sample();
    } else if (entry.msg === 'summary') summary = entry;
  });
  const started = performance.now();
  const code = await exited;
  clearInterval(timer);
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`the run over ${objects} objects exited with ${code}`);
  if (summary?.objects.done !== objects)
    throw new Error(`the run wrote ${summary?.objects.done} outputs of ${objects}`);
  return {
    objects,
    seconds: Math.round(seconds),
    objectsPerSecond: Math.round(objects / seconds),
    peakRssMiB: Number((peak / MiB).toFixed(1)),
    // The shape: RSS at each tenth of the objects (a leak climbs to the end).
    rssMiBByTenth: Array.from({ length: 10 }, (_, i) => {
      const at = samples.find((s) => s.settled >= ((i + 1) * objects) / 10) ?? samples.at(-1);
      return at ? `${at.settled}: ${(at.rss / MiB).toFixed(1)}` : undefined;
    }),
    outputKeyClaimsAtEnd: finished?.outputKeyClaims,
  };
}

async function main() {
  const small = Number(option('small', '20000'));
  const large = Number(option('large', '200000'));
  const objectSize = parseSize(option('object-size', '1KiB'));
  const putConcurrency = Number(option('put-concurrency', '64'));
  const reuse = option('input-bucket', undefined);
  const keepInput = process.argv.includes('--keep-input');
  if (!(small > 0 && large > small)) throw new Error('--large must exceed --small (both > 0)');
  const services = servicesEnv();
  const s3 = createBenchClient({
    endpoint: services.S3_ENDPOINT,
    region: services.S3_REGION ?? 'us-east-1',
    accessKeyId: services.S3_ACCESS_KEY_ID,
    secretAccessKey: services.S3_SECRET_ACCESS_KEY,
  });
  const id = randomBytes(4).toString('hex');
  const input = reuse ?? `s3worker-bench-lmem-in-${id}`;
  const output = `s3worker-bench-lmem-out-${id}`;
  const dir = await mkdtemp(join(tmpdir(), 's3worker-bench-lmem-'));
  if (reuse === undefined) await createBucket(s3, input);
  await createBucket(s3, output);
  try {
    if (reuse === undefined)
      await writeObjects(s3, input, large, small, objectSize, putConcurrency);
    const runs = [];
    for (const [objects, prefix] of [
      [small, 'obj/a/'],
      [large, 'obj/'],
    ]) {
      say(`run over ${objects} objects (s3://${input}/${prefix})`);
      const run = await measureRun({ services, dir, input, prefix, output, objects });
      say(`${objects} objects: ${run.seconds} s, peak RSS ${run.peakRssMiB} MiB`);
      runs.push(run);
    }
    const result = {
      cli: CLI,
      objectSize: formatSize(objectSize),
      runs,
      // The large run's peak over the small one's: 1.0 when memory does not follow the count.
      peakRatio: Number((runs[1].peakRssMiB / runs[0].peakRssMiB).toFixed(3)),
      ...(keepInput || reuse !== undefined ? { inputBucket: input } : {}),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await removeBucket(s3, output).catch(() => {});
    if (!keepInput && reuse === undefined) await removeBucket(s3, input).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exitCode = 1;
});
