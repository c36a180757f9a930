// Where a backfill's objects come from, side by side: one `stream-transform` run (defaults,
// identity copy) over the same N objects of `--object-size` bytes for each source — a listing
// of the input prefix, a `--keys` file, an `--inventory` report in gzip CSV and in Parquet — and
// for each its time to the first output, its total time and its peak RSS (VmHWM), at each N of
// `--counts`. Then the ratios: each source's times over the listing's, and each source's peak
// RSS at the largest N over the smallest (memory should not follow the count: within 10%).
//
// Time to the first output: from the spawn of the process until a ListObjectsV2 of its output
// prefix, polled every 50 ms by the bench, first shows an output object (so it includes the
// process's start-up, and for a report the download and check of every data file). Total: from
// the spawn to the exit. Reports and the keys file are written before the clock starts.
//
//   node bench/backfill-sources.mjs [--counts 20000,200000] [--object-size 1KiB]
//        [--sources listing,keys,inventory-csv,inventory-parquet] [--rows-per-file 50000]
//        [--input-bucket s3worker-bench-sources] [--drop-input] [--cli dist/cli/main.js]
//
// The input objects stay in `--input-bucket` (objects n<N>/<index>.bin, then the marker
// _bench/n<N>.json once all are written): a later run at the same N and size finds the marker
// and writes nothing (200,000 PUTs are the slow part). `--drop-input` removes the bucket at the
// end. Needs `npm run build` and the local MinIO (scripts/test-services.sh start). Writes
// bench/results/latest-sources.json and .md and prints the table.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import {
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { createBucket, deletePrefix, putSmallObjects, removeBucket } from './lib/bench-s3.mjs';
import { shebangNodeFlags } from './lib/bin-flags.mjs';
import {
  onLogLines,
  option,
  peakRss,
  servicesEnv,
  servicesS3Client,
  workerEnv,
} from './lib/job-bench.mjs';
import { formatSize, parseSize } from './lib/options.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = resolve(option('cli', join(ROOT, 'dist/cli/main.js')));
const SOURCES = ['listing', 'keys', 'inventory-csv', 'inventory-parquet'];
const say = (text) => process.stderr.write(`[bench sources] ${text}\n`);
const MiB = 1024 * 1024;
const SAMPLE_MS = 250;
const POLL_MS = 50;

/** Makes sure `bucket` holds `count` objects of `size` bytes under n<count>/, writing them once. */
async function ensureInput(s3, bucket, count, size) {
  await s3.send(new HeadBucketCommand({ Bucket: bucket })).catch(async (error) => {
    if (error?.$metadata?.httpStatusCode !== 404) throw error;
    await createBucket(s3, bucket);
  });
  const prefix = `n${count}/`;
  const marker = `_bench/n${count}.json`;
  const found = await s3
    .send(new GetObjectCommand({ Bucket: bucket, Key: marker }))
    .then(async (r) => JSON.parse(await r.Body.transformToString()))
    .catch(() => undefined);
  if (found?.objects === count && found?.objectSize === size) {
    say(`reusing ${count} objects of s3://${bucket}/${prefix} (marker ${marker})`);
    return prefix;
  }
  say(`writing ${count} objects of ${formatSize(size)} under s3://${bucket}/${prefix}`);
  const started = performance.now();
  await deletePrefix(s3, bucket, prefix);
  await putSmallObjects(s3, bucket, prefix, count, size);
  const seconds = (performance.now() - started) / 1000;
  say(`written in ${Math.round(seconds)} s (${Math.round(count / seconds)}/s)`);
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: marker,
      Body: JSON.stringify({ objects: count, objectSize: size, writtenAt: new Date() }),
    }),
  );
  return prefix;
}

/** Key, size, unquoted ETag and date of every object under `prefix`, as S3 Inventory has them. */
async function listRows(s3, bucket, prefix) {
  const rows = [];
  for await (const page of paginateListObjectsV2(
    { client: s3 },
    { Bucket: bucket, Prefix: prefix },
  )) {
    for (const o of page.Contents ?? []) {
      rows.push({
        key: o.Key,
        size: o.Size,
        etag: o.ETag.replaceAll('"', ''),
        lastModified: o.LastModified,
      });
    }
  }
  return rows;
}

/** One data file of the report: gzip CSV (keys form-encoded) or Parquet. */
function dataFile(format, bucket, rows) {
  if (format === 'CSV') {
    const lines = rows.map(
      (r) =>
        `"${bucket}","${new URLSearchParams({ k: r.key }).toString().slice(2)}","${r.size}",` +
        `"${r.lastModified.toISOString()}","${r.etag}","STANDARD"`,
    );
    return gzipSync(`${lines.join('\n')}\n`);
  }
  const column = (name, type, map) => ({ name, type, data: rows.map(map) });
  return Buffer.from(
    parquetWriteBuffer({
      columnData: [
        column('bucket', 'STRING', () => bucket),
        column('key', 'STRING', (r) => r.key),
        column('size', 'INT64', (r) => BigInt(r.size)),
        column('last_modified_date', 'TIMESTAMP', (r) => r.lastModified),
        column('e_tag', 'STRING', (r) => r.etag),
        column('storage_class', 'STRING', () => 'STANDARD'),
      ],
    }),
  );
}

/**
 * Writes an S3 Inventory report of `rows` in the documented layout (data files under
 * <prefix><source bucket>/<config>/data/, manifest.json under …/<config>/<date>/) into
 * `reportBucket`; returns the manifest's s3:// URL and the data files' total size.
 */
async function writeInventory(s3, { format, reportBucket, prefix, sourceBucket, rows, perFile }) {
  const base = `${prefix}${sourceBucket}/cfg-${randomUUID().slice(0, 8)}`;
  const files = [];
  for (let at = 0; at < rows.length; at += perFile) {
    const body = dataFile(format, sourceBucket, rows.slice(at, at + perFile));
    const key = `${base}/data/${randomUUID()}.${format === 'CSV' ? 'csv.gz' : 'parquet'}`;
    await s3.send(new PutObjectCommand({ Bucket: reportBucket, Key: key, Body: body }));
    files.push({
      key,
      size: body.length,
      MD5checksum: createHash('md5').update(body).digest('hex'),
    });
  }
  const manifest = {
    sourceBucket,
    destinationBucket: `arn:aws:s3:::${reportBucket}`,
    version: '2016-11-30',
    creationTimestamp: String(Date.now()),
    fileFormat: format,
    fileSchema:
      format === 'CSV'
        ? 'Bucket, Key, Size, LastModifiedDate, ETag, StorageClass'
        : 'message s3.inventory { required binary bucket (STRING); required binary key (STRING); optional int64 size; optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); optional binary e_tag (STRING); optional binary storage_class (STRING); }',
    files,
  };
  const key = `${base}/2026-12-07T01-00Z/manifest.json`;
  await s3.send(
    new PutObjectCommand({ Bucket: reportBucket, Key: key, Body: JSON.stringify(manifest) }),
  );
  return {
    url: `s3://${reportBucket}/${key}`,
    bytes: files.reduce((sum, f) => sum + f.size, 0),
    dataFiles: files.length,
  };
}

/** One run; `sourceArgs` name where the objects come from. Resolves with its measurements. */
async function measureRun({ s3, services, dir, input, output, outPrefix, sourceArgs, objects }) {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...shebangNodeFlags(CLI),
      CLI,
      'run',
      'stream-transform',
      '--input',
      input,
      '--output',
      `s3://${output}/${outPrefix}`,
      ...sourceArgs,
      '--log-format',
      'json',
    ],
    { env: workerEnv(services, dir), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((r) => child.once('close', r));
  let peak = 0;
  const timer = setInterval(() => {
    const now = peakRss(child.pid);
    if (now > peak) peak = now;
  }, SAMPLE_MS);
  let summary;
  onLogLines(child.stdout, '"msg":"summary"', (entry) => {
    summary = entry;
  });
  let running = true;
  let firstOutput;
  const poll = (async () => {
    while (running && firstOutput === undefined) {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: output, Prefix: outPrefix, MaxKeys: 10 }),
      );
      if ((page.Contents ?? []).some((o) => !o.Key.includes('_s3worker/')))
        firstOutput = (performance.now() - started) / 1000;
      else await new Promise((r) => setTimeout(r, POLL_MS));
    }
  })();
  const code = await exited;
  const seconds = (performance.now() - started) / 1000;
  running = false;
  clearInterval(timer);
  await poll;
  if (code !== 0) throw new Error(`the run exited with ${code}`);
  const { done, failed, skipped } = summary?.objects ?? {};
  if (done !== objects || failed !== 0 || skipped !== 0)
    throw new Error(`the run did ${done}, failed ${failed}, skipped ${skipped} of ${objects}`);
  return {
    firstOutputSeconds: firstOutput === undefined ? undefined : Number(firstOutput.toFixed(2)),
    totalSeconds: Number(seconds.toFixed(1)),
    objectsPerSecond: Math.round(objects / seconds),
    peakRssMiB: Number((peak / MiB).toFixed(1)),
  };
}

/** Prepares what `source` reads (outside the clock) and returns its arguments and a note. */
async function prepareSource(source, { s3, dir, inputBucket, rows, output, perFile }) {
  if (source === 'listing') return { args: [], note: 'ListObjectsV2 of the input prefix' };
  if (source === 'keys') {
    const file = join(dir, `keys-${rows.length}.txt`);
    await writeFile(file, `${rows.map((r) => r.key).join('\n')}\n`);
    return { args: ['--keys', file], note: 'local file, one key per line' };
  }
  const format = source === 'inventory-csv' ? 'CSV' : 'Parquet';
  const report = await writeInventory(s3, {
    format,
    reportBucket: output,
    prefix: `reports/${rows.length}/`,
    sourceBucket: inputBucket,
    rows,
    perFile,
  });
  return {
    args: ['--inventory', report.url],
    note: `${report.dataFiles} data file(s), ${formatSize(report.bytes)}`,
    reportBytes: report.bytes,
  };
}

const ratio = (a, b) =>
  a === undefined || b === undefined ? undefined : Number((a / b).toFixed(2));

function renderMarkdown(result) {
  const lines = [
    `stream-transform by source, ${result.objectSize} objects; ${result.startedAt}, ` +
      `s3worker ${result.commit}, Node.js ${process.version}`,
    '',
    '| objects | source | first output | total | objects/s | peak RSS | first vs listing | total vs listing | source detail |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of result.runs) {
    lines.push(
      `| ${r.objects.toLocaleString('en-US')} | ${r.source} | ${r.firstOutputSeconds} s | ` +
        `${r.totalSeconds} s | ${r.objectsPerSecond} | ${r.peakRssMiB} MiB | ` +
        `${r.firstVsListing ?? '–'} | ${r.totalVsListing ?? '–'} | ${r.note} |`,
    );
  }
  if (result.rssRatio) {
    lines.push(
      '',
      `Peak RSS at ${result.rssRatio.of}: ${JSON.stringify(result.rssRatio.bySource)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function commitOf() {
  const git = (args) =>
    promisify(execFile)('git', ['-C', ROOT, ...args]).then(({ stdout }) => stdout.trim());
  const commit = await git(['rev-parse', '--short', 'HEAD']).catch(() => 'unknown');
  const dirty = await git(['status', '--porcelain', '--', 'src']).catch(() => '');
  return `${commit}${dirty ? '+changes' : ''}`;
}

async function main() {
  const counts = option('counts', '20000,200000').split(',').map(Number);
  const objectSize = parseSize(option('object-size', '1KiB'));
  const sources = option('sources', SOURCES.join(',')).split(',');
  const perFile = Number(option('rows-per-file', '50000'));
  const inputBucket = option('input-bucket', 's3worker-bench-sources');
  const dropInput = process.argv.includes('--drop-input');
  if (!counts.every((n) => Number.isInteger(n) && n > 0)) throw new Error('--counts: integers > 0');
  const unknown = sources.filter((s) => !SOURCES.includes(s));
  if (unknown.length > 0) throw new Error(`--sources: unknown ${unknown} (${SOURCES})`);
  const services = servicesEnv();
  const s3 = servicesS3Client(services);
  const output = `s3worker-bench-sources-out-${randomBytes(4).toString('hex')}`;
  const dir = await mkdtemp(join(tmpdir(), 's3worker-bench-sources-'));
  await createBucket(s3, output);
  const result = {
    startedAt: new Date().toISOString(),
    command: `node bench/backfill-sources.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    commit: await commitOf(),
    // Relative to the repository: a result file names no machine's folders.
    cli: relative(ROOT, CLI),
    objectSize: formatSize(objectSize),
    runs: [],
  };
  try {
    for (const objects of counts) {
      const prefix = await ensureInput(s3, inputBucket, objects, objectSize);
      const rows = await listRows(s3, inputBucket, prefix);
      if (rows.length !== objects) throw new Error(`${prefix} holds ${rows.length} objects`);
      let listing;
      for (const source of sources) {
        const prepared = await prepareSource(source, {
          s3,
          dir,
          inputBucket,
          rows,
          output,
          perFile,
        });
        say(`${objects} objects, ${source} (${prepared.note})`);
        const outPrefix = `out/${objects}/${source}/`;
        const run = await measureRun({
          s3,
          services,
          dir,
          input: `s3://${inputBucket}/${prefix}`,
          output,
          outPrefix,
          sourceArgs: prepared.args,
          objects,
        });
        await deletePrefix(s3, output, outPrefix);
        if (source === 'listing') listing = run;
        const entry = { objects, source, ...run, note: prepared.note };
        if (listing && source !== 'listing') {
          entry.firstVsListing = ratio(run.firstOutputSeconds, listing.firstOutputSeconds);
          entry.totalVsListing = ratio(run.totalSeconds, listing.totalSeconds);
        }
        say(
          `${objects} ${source}: first output ${run.firstOutputSeconds} s, total ` +
            `${run.totalSeconds} s, peak RSS ${run.peakRssMiB} MiB`,
        );
        result.runs.push(entry);
      }
    }
    if (counts.length > 1) {
      const [low, high] = [Math.min(...counts), Math.max(...counts)];
      const at = (n, s) => result.runs.find((r) => r.objects === n && r.source === s);
      result.rssRatio = {
        of: `${high} over ${low}`,
        bySource: Object.fromEntries(
          sources.map((s) => [s, ratio(at(high, s)?.peakRssMiB, at(low, s)?.peakRssMiB)]),
        ),
      };
    }
  } finally {
    result.finishedAt = new Date().toISOString();
    await removeBucket(s3, output).catch(() => {});
    if (dropInput) await removeBucket(s3, inputBucket).catch(() => {});
    else say(`kept the input objects in ${inputBucket} (--drop-input removes them)`);
    await rm(dir, { recursive: true, force: true });
    s3.destroy();
  }
  const markdown = renderMarkdown(result);
  const outDir = join(ROOT, 'bench', 'results');
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'latest-sources.json'), `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(join(outDir, 'latest-sources.md'), markdown);
  process.stdout.write(markdown);
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exitCode = 1;
});
