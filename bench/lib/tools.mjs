// The command lines each tool runs for each kind of work, with default and tuned settings.
// Every command is an argument array (no shell); a pipeline is a list of commands.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runPipeline } from './measure.mjs';

/**
 * Tuned settings: each tool's documented throughput knobs, set for a 2-core machine with MinIO
 * on loopback. Whether they beat the defaults changes from run to run on a shared machine, so
 * the report compares each tool's best setting against the other's: a tuned setting that loses
 * does not count against its tool. Defaults are whatever each tool does without flags.
 */
export const TUNED = {
  s3worker: {
    // Bigger parts and ranges: fewer requests, so less per-request CPU on a CPU-bound machine.
    one: ['--part-size', '16MiB', '--range-size', '16MiB'],
    // Twice the objects in flight; the smallest parts (a transformed object reserves one part
    // while it is read; a copy reserves only its own size).
    many: ['--concurrency', '16', '--part-size', '5MiB'],
    // One object through a codec: the download of the uncompressed side is what waits (two
    // ranges in flight leave it waiting for each GET's first byte), so four ranges; parts and
    // ranges stay 8 MiB, which keeps peak RSS near the defaults'.
    codec: ['--range-concurrency', '4'],
  },
  s5cmd: {
    one: ['--concurrency', '8', '--part-size', '16'],
    manyGlobal: ['--numworkers', '128'],
  },
  aws: {
    config: {
      'default.s3.max_concurrent_requests': '32',
      'default.s3.multipart_chunksize': '16MB',
      'default.s3.max_queue_size': '10000',
    },
  },
};

/** The tools in the order they run, each with its variants. */
export const TOOL_NAMES = ['s5cmd', 'aws', 's3worker'];
export const VARIANTS = ['default', 'tuned'];
/** The C tool alone on a local file: the physical bound of a codec scenario (one setting). */
export const BOUND = { tool: 'local', variant: 'bound' };
/** The C tool alone on a local file on one thread: the CPU floor of a codec scenario. */
export const FLOOR = { tool: 'local', variant: 'floor' };
/** MinIO's PUT ceiling as warp measures it, in the copy-through scenario. */
export const CEILING = { tool: 'warp', variant: 'put' };

/**
 * warp's PUT ceiling run: objects and writers in flight as issue 23 measured it. Its duration is
 * `--warp-duration`.
 */
export const WARP_PUT = { objectSize: '64MiB', concurrent: 4 };

/** s3worker's flags for each codec scenario: level 1 where there is a level, as the peers. */
const S3WORKER_CODEC_FLAGS = {
  gzip: ['--transform', 'gzip', '--gzip-level', '1'],
  zstd: ['--transform', 'zstd', '--zstd-level', '1'],
  gunzip: ['--transform', 'gunzip'],
  unzstd: ['--transform', 'unzstd'],
};

const s3url = (bucket, key) => `s3://${bucket}/${key}`;

/**
 * Builds each tool's command lines.
 * @param {{ bins: { s5cmd: string, aws: string, gzip: string, zstd: string, pigz?: string, node: string, s3worker: string, s3workerNodeFlags?: string[] },
 *   endpoint: string, awsConfigFiles: { default: string, tuned: string } }} ctx
 */
export function createTools(ctx) {
  const e = ctx.endpoint;
  const s5 = (variant, args) => ({
    cmd: ctx.bins.s5cmd,
    args: ['--endpoint-url', e, ...(variant === 'tuned' ? ['--log', 'error'] : []), ...args],
  });
  const aws = (args) => ({ cmd: ctx.bins.aws, args: ['--endpoint-url', e, ...args] });
  // The C tool each peer pipeline runs between its download and its upload, as a filter.
  const filters = {
    gzip: { cmd: ctx.bins.gzip, args: ['-1'] },
    zstd: { cmd: ctx.bins.zstd, args: ['-1', '-q'] },
    gunzip: { cmd: ctx.bins.gzip, args: ['-d'] },
    unzstd: { cmd: ctx.bins.zstd, args: ['-d', '-q'] },
  };
  const filter = (codec) => (codec ? [filters[codec]] : []);
  // One s3worker run is the whole pipeline: list, GET, transform, PUT.
  const s3worker = (variant, kind, src, dst, extra = []) => [
    [
      {
        cmd: ctx.bins.node,
        args: [
          ...(ctx.bins.s3workerNodeFlags ?? []),
          ctx.bins.s3worker,
          'run',
          'stream-transform',
          '--endpoint',
          e,
          '--input',
          s3url(src.bucket, src.prefix),
          '--output',
          s3url(dst.bucket, dst.prefix),
          ...extra,
          ...(variant === 'tuned' ? TUNED.s3worker[kind] : []),
        ],
      },
    ],
  ];
  const s5one = (variant) => (variant === 'tuned' ? TUNED.s5cmd.one : []);

  return {
    warp: {
      /**
       * `warp put` of `WARP_PUT.objectSize` objects, `WARP_PUT.concurrent` at a time, for
       * `seconds`, into its own bucket (it deletes what it wrote at the end). Credentials, host
       * and region come from WARP_* in the environment; `--json` prints the analysis on stdout;
       * the operations file goes to `benchdata` (+ .json.zst), not the working directory.
       */
      put({ bucket, seconds, benchdata }) {
        return [
          [
            {
              cmd: ctx.bins.warp,
              args: [
                'put',
                '--obj.size',
                WARP_PUT.objectSize,
                '--concurrent',
                String(WARP_PUT.concurrent),
                '--duration',
                `${seconds}s`,
                '--bucket',
                bucket,
                '--lookup',
                'path',
                // Unsigned payloads, as s3worker sends them to a loopback endpoint: the ceiling
                // is MinIO's, not warp's SHA-256 competing with it for the same cores.
                '--disable-sha256-payload',
                '--benchdata',
                benchdata,
                '--json',
                '--no-color',
              ],
              // Its JSON result, some 16 KB, is read whole.
              stdoutChars: 1024 * 1024,
            },
          ],
        ];
      },
    },
    s5cmd: {
      /** One object: `s5cmd cat | [gzip -1 | zstd -1 | gzip -d | zstd -d |] s5cmd pipe`. */
      one({ variant, src, dst, codec }) {
        return [
          [
            s5(variant, ['cat', ...s5one(variant), s3url(src.bucket, src.key)]),
            ...filter(codec),
            s5(variant, ['pipe', ...s5one(variant), s3url(dst.bucket, dst.key)]),
          ],
        ];
      },
      /** Many objects: download to a local folder, then upload it. */
      many({ variant, src, dst, localDir }) {
        const global = variant === 'tuned' ? TUNED.s5cmd.manyGlobal : [];
        return [
          [s5(variant, [...global, 'cp', s3url(src.bucket, `${src.prefix}*`), `${localDir}/`])],
          [s5(variant, [...global, 'cp', `${localDir}/*`, s3url(dst.bucket, dst.prefix)])],
        ];
      },
    },
    aws: {
      one({ src, dst, codec }) {
        return [
          [
            aws(['s3', 'cp', '--no-progress', s3url(src.bucket, src.key), '-']),
            ...filter(codec),
            aws(['s3', 'cp', '--no-progress', '-', s3url(dst.bucket, dst.key)]),
          ],
        ];
      },
      many({ src, dst, localDir }) {
        const flags = ['--recursive', '--only-show-errors'];
        return [
          [aws(['s3', 'cp', ...flags, s3url(src.bucket, src.prefix), `${localDir}/`])],
          [aws(['s3', 'cp', ...flags, `${localDir}/`, s3url(dst.bucket, dst.prefix)])],
        ];
      },
    },
    s3worker: {
      one: ({ variant, src, dst, codec }) =>
        codec
          ? s3worker(variant, 'codec', src, dst, S3WORKER_CODEC_FLAGS[codec])
          : s3worker(variant, 'one', src, dst),
      many: ({ variant, src, dst }) => s3worker(variant, 'many', src, dst),
    },
    local: {
      bins: ctx.bins,
      /**
       * The C tool alone on the local copy of the source, output discarded: on every core it
       * uses (the bound), or on one thread (`floor`, the CPU floor).
       */
      one({ src, codec, floor = false }) {
        const { cmd, args } = (floor ? localFloor : localBound)(ctx.bins, codec);
        return [[{ cmd, args: [...args, src.localFile], stdout: 'ignore' }]];
      },
    },
  };
}

/**
 * The fastest C tool for a codec on this machine, on every core it uses: pigz (when installed)
 * for gzip, `zstd -T0`; decompression is one thread in every tool (pigz -d adds a reader and a
 * writer thread).
 */
export function localBound(bins, codec) {
  const gz = bins.pigz ?? bins.gzip;
  const name = bins.pigz ? 'pigz' : 'gzip';
  switch (codec) {
    case 'gzip':
      return { cmd: gz, args: ['-1', '-c'], label: `${name} -1` };
    case 'zstd':
      return { cmd: bins.zstd, args: ['-1', '-T0', '-q', '-c'], label: 'zstd -1 -T0' };
    case 'gunzip':
      return { cmd: gz, args: ['-d', '-c'], label: `${name} -d` };
    case 'unzstd':
      return { cmd: bins.zstd, args: ['-d', '-q', '-c'], label: 'zstd -d' };
    default:
      throw new Error(`no C tool for ${codec}`);
  }
}

/**
 * The C tool a peer pipeline runs, alone on one thread: the CPU floor of a codec. gzip has one
 * thread; `zstd --single-thread` does its I/O and (de)compression on one (its default `-T1`
 * compresses on a second thread while the first reads); decompression is one thread anyway.
 */
export function localFloor(bins, codec) {
  switch (codec) {
    case 'gzip':
      return { cmd: bins.gzip, args: ['-1', '-c'], label: 'gzip -1' };
    case 'zstd':
      return {
        cmd: bins.zstd,
        args: ['-1', '--single-thread', '-q', '-c'],
        label: 'zstd -1 --single-thread',
      };
    case 'gunzip':
      return { cmd: bins.gzip, args: ['-d', '-c'], label: 'gzip -d' };
    case 'unzstd':
      return { cmd: bins.zstd, args: ['-d', '-q', '-c'], label: 'zstd -d' };
    default:
      throw new Error(`no C tool for ${codec}`);
  }
}

/**
 * Writes the AWS CLI's config files for both variants with `aws configure set` (the way a user
 * tunes it), each in its own file named by AWS_CONFIG_FILE. Returns their paths.
 */
export async function writeAwsConfigs({ awsBin, tmpDir, env, timeBin }) {
  const files = {
    default: join(tmpDir, 'aws-config-default'),
    tuned: join(tmpDir, 'aws-config-tuned'),
  };
  for (const file of Object.values(files)) {
    await writeFile(file, '[default]\nregion = us-east-1\n', { mode: 0o600 });
  }
  for (const [name, value] of Object.entries(TUNED.aws.config)) {
    await runPipeline([{ cmd: awsBin, args: ['configure', 'set', name, value] }], {
      env: { ...env, AWS_CONFIG_FILE: files.tuned },
      tmpDir,
      timeBin,
      timeoutMs: 60_000,
    });
  }
  return files;
}

/** How each variant is configured, in words, for the report. */
export function describeVariants({ warpSeconds } = {}) {
  return {
    ...(warpSeconds === undefined
      ? {}
      : {
          warp: {
            ceiling:
              `warp put --obj.size ${WARP_PUT.objectSize} --concurrent ${WARP_PUT.concurrent} --disable-sha256-payload ` +
              `--duration ${warpSeconds}s into its own bucket; MB/s is the average warp reports ` +
              '(bytes over the whole seconds of its analysis), CPU s its own process',
          },
        }),
    s3worker: {
      default: 'no flags',
      tuned: `one object: ${TUNED.s3worker.one.join(' ')}; many objects: ${TUNED.s3worker.many.join(' ')}; codecs (c-f1): ${TUNED.s3worker.codec.join(' ')}`,
    },
    s5cmd: {
      default: 'no flags (cat/pipe: 5 parts of 50 MiB in flight; cp: --numworkers 256)',
      tuned: `cat/pipe: ${TUNED.s5cmd.one.join(' ')} (MiB); cp: ${TUNED.s5cmd.manyGlobal.join(' ')}; --log error`,
    },
    aws: {
      default: 'region only (max_concurrent_requests 10, multipart_chunksize 8MB)',
      tuned: Object.entries(TUNED.aws.config)
        .map(([k, v]) => `${k.replace('default.s3.', '')} ${v}`)
        .join(', '),
    },
  };
}
