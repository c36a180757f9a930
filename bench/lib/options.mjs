// Command-line options of `npm run bench`.
import { parseArgs } from 'node:util';

const UNITS = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** Parses `1GiB`, `256MiB`, `64KiB`, `5MB` or a byte count. */
export function parseSize(text) {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(String(text).trim());
  const factor = match ? UNITS[(match[2] || 'b').toLowerCase()] : undefined;
  if (!match || factor === undefined)
    throw new Error(`not a size: ${text} (use e.g. 1GiB, 256MiB)`);
  return Math.round(Number(match[1]) * factor);
}

/** Formats bytes with a binary unit: 1073741824 → "1 GiB". */
export function formatSize(bytes) {
  for (const [unit, factor] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ]) {
    if (bytes >= factor) return `${Math.round((bytes / factor) * 100) / 100} ${unit}`;
  }
  return `${bytes} B`;
}

export const USAGE = `Usage: npm run bench -- [options]

Measures s3worker against s5cmd and the AWS CLI on the local MinIO (bench/setup.sh installs
the peers once). Writes <out>/latest.json and <out>/latest.md and prints the table: every row
with its CPU seconds per GiB, and the targets of issue 23 met or missed by how much.

  --scenario LIST     a (copy-through, and warp's PUT ceiling of the same MinIO), b (many
                      small objects), c (gzip -1 of text), d (zstd -1 of text), e (gunzip
                      back to text), e1 (gunzip of a file written by gzip -1: one member),
                      f (unzstd of 4 MiB frames back to text), f1 (unzstd of a file written
                      by zstd -1: one frame); c-f1 also run the C tool alone on a local file,
                      on every core and on one thread (the CPU floor),
                      rss (s3worker peak RSS by object size), u (upload of a stream of
                      unknown length: s3worker's Transfer vs lib-storage's Upload),
                      q (queue mode: S3 events on SQS with 1, 2 and 4 workers beside
                      listing mode, b's objects), logs (the ship-logs job: lines/s of a
                      file being appended, beside gzip -1; bench/ship-logs.mjs), db (the
                      db-backup job on a pgbench database, beside pg_dump | zstd | s5cmd and
                      pg_dump | aws s3 cp, and the restore; bench/db-backup.mjs), qmem
                      (one queue worker's RSS over 200,000 events; bench/queue-memory.mjs,
                      about 10 minutes, only when named), lmem (peak RSS of one listing run
                      over 20,000 and 200,000 objects of 1 KiB; bench/listing-memory.mjs,
                      30 minutes or more, only when named), enq (enqueue's messages/s
                      into ElasticMQ from a listing of 20,000 objects; bench/enqueue.mjs),
                      sources (time to the first output, total time and peak RSS of a
                      listing, --keys and --inventory CSV/Parquet over 20,000 and 200,000
                      objects of 1 KiB; bench/backfill-sources.mjs, an hour or more, only
                      when named);
                      comma-separated or repeated (default:
                      a,b,c,d,e,e1,f,f1,rss,u,q,logs,db,enq)
  --size SIZE         object size for a, and the text size for c-f1 (default 1GiB)
  --upload-size SIZE  stream length for u (default 2GiB)
  --objects N         object count for b and q (default 5000)
  --object-size SIZE  object size for b and q (default 64KiB)
  --rss-sizes LIST    object sizes for rss (default 1GiB,4GiB)
  --tools LIST        s5cmd,aws,s3worker,local,warp (default: all; local = the C tool alone
                      on a local copy of the source in c-f1, on every core and on one
                      thread; warp = MinIO's warp put, 64 MiB objects, 4 in flight, in a)
  --warp-duration S   seconds warp put runs in a (default 20)
  --variants LIST     default,tuned (default: both)
  --repeat N          runs per tool and setting, in rounds that interleave the tools (each
                      once per round); the median by wall time is kept (default 1)
  --verify MODE       sample (size + 3 sampled ranges) or full (whole-object SHA-256) for a
                      and rss; c-f1 always hash everything, decompressed (default sample)
  --timeout SECONDS   per run (default 600)
  --out DIR           where latest.json and latest.md go (default bench/results)
  --keep              keep the buckets and temp files (to look at a failure)
  --help`;

const list = (values) =>
  values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);

function pick(values, allowed, name) {
  for (const v of values) {
    if (!allowed.includes(v))
      throw new Error(`--${name}: unknown value ${v} (use ${allowed.join(', ')})`);
  }
  return allowed.filter((v) => values.includes(v));
}

/** Parses argv into the bench's options; throws with a readable message on a bad value. */
export function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string', multiple: true },
      size: { type: 'string', default: '1GiB' },
      objects: { type: 'string', default: '5000' },
      'object-size': { type: 'string', default: '64KiB' },
      'upload-size': { type: 'string', default: '2GiB' },
      'rss-sizes': { type: 'string', default: '1GiB,4GiB' },
      tools: { type: 'string', default: 's5cmd,aws,s3worker,local,warp' },
      'warp-duration': { type: 'string', default: '20' },
      variants: { type: 'string', default: 'default,tuned' },
      repeat: { type: 'string', default: '1' },
      verify: { type: 'string', default: 'sample' },
      timeout: { type: 'string', default: '600' },
      out: { type: 'string', default: 'bench/results' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const positive = (text, name) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`--${name}: not a positive integer: ${text}`);
    return n;
  };
  if (!['sample', 'full'].includes(values.verify)) throw new Error('--verify: use sample or full');
  return {
    help: values.help,
    scenarios: pick(
      list(values.scenario ?? ['a,b,c,d,e,e1,f,f1,rss,u,q,logs,db,enq']),
      [
        'a',
        'b',
        'c',
        'd',
        'e',
        'e1',
        'f',
        'f1',
        'rss',
        'u',
        'q',
        'logs',
        'db',
        'qmem',
        'lmem',
        'enq',
        'sources',
      ],
      'scenario',
    ),
    size: parseSize(values.size),
    objects: positive(values.objects, 'objects'),
    objectSize: parseSize(values['object-size']),
    uploadSize: parseSize(values['upload-size']),
    rssSizes: list([values['rss-sizes']]).map(parseSize),
    tools: pick(list([values.tools]), ['s5cmd', 'aws', 's3worker', 'local', 'warp'], 'tools'),
    warpSeconds: positive(values['warp-duration'], 'warp-duration'),
    variants: pick(list([values.variants]), ['default', 'tuned'], 'variants'),
    repeat: positive(values.repeat, 'repeat'),
    verify: values.verify,
    timeoutMs: positive(values.timeout, 'timeout') * 1000,
    out: values.out,
    keep: values.keep,
  };
}
