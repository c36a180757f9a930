// (c)–(f): one big object of log lines through a codec: gzip -1, zstd -1, and back to text;
// (e1), (f1): back to text from the files the CLI tools write (one gzip member, one zstd frame).
import { join } from 'node:path';
import {
  hashGunzipped,
  hashObject,
  hashUnzstd,
  objectSize,
  putCliCompressedLogText,
  putLogText,
} from '../lib/bench-s3.mjs';

/**
 * The CLI compressors of (e1) and (f1), as a user runs them on a file: `gzip -1` writes one
 * member; `zstd -1` one frame (its default: one compression thread, the content size from the
 * file, a checksum).
 */
const CLI_COMPRESSORS = {
  'gzip-cli': (bins) => ({ cmd: bins.gzip, args: ['-1', '-c'], label: 'gzip -1: one member' }),
  'zstd-cli': (bins) => ({
    cmd: bins.zstd,
    args: ['-1', '-q', '-c'],
    label: 'zstd -1: one frame',
  }),
};

/**
 * A codec scenario: the source is `size` bytes of log lines stored as `input` (plain text, or
 * compressed as the matching transform writes it), run through `codec` by every tool, and the
 * C tool alone on a local copy of the source as the physical bound. Throughput counts bytes of
 * text, compressed or decompressed, so the four scenarios compare.
 *
 * @param {{ id: string, title: string, codec: 'gzip' | 'zstd' | 'gunzip' | 'unzstd',
 *   input: 'none' | 'gzip' | 'zstd' | 'gzip-cli' | 'zstd-cli', name: string,
 *   outName: string }} spec `gzip` and `zstd` are written by the harness (one member; 4 MiB
 *   frames), `gzip-cli` and `zstd-cli` by the CLI tools from a file (one member; one frame)
 */
function codecScenario(spec) {
  return {
    id: spec.id,
    title: spec.title,
    unit: 'MB/s',
    codec: spec.codec,
    async prepare({ s3, buckets, options, tmpDir, bins }) {
      const key = `${spec.id}/src/${spec.name}`;
      const localFile = join(tmpDir, `${spec.id}-${spec.name}`);
      const cli = CLI_COMPRESSORS[spec.input]?.(bins);
      const { sha256, bytes } = cli
        ? await putCliCompressedLogText(s3, buckets.input, key, options.size, {
            compressor: cli,
            localFile,
          })
        : await putLogText(s3, buckets.input, key, options.size, {
            codec: spec.input,
            localFile,
          });
      return {
        bucket: buckets.input,
        prefix: `${spec.id}/src/`,
        key,
        size: options.size,
        stored: bytes,
        sha256,
        localFile,
        writtenBy: cli?.label,
      };
    },
    describe: (src) =>
      spec.input === 'none'
        ? `one object of ${src.size} bytes of log lines`
        : `one ${spec.input.replace('-cli', '')} object of ${src.stored} bytes holding ` +
          `${src.size} bytes of log lines` +
          (src.writtenBy
            ? ` (written by ${src.writtenBy})`
            : spec.input === 'zstd'
              ? ' (level 1, 4 MiB frames)'
              : ' (level 1, one member)'),
    work: (src) => ({ bytes: src.size, objects: 1 }),
    // s3worker's default key template adds .gz/.zst and removes them; the peers get the same name.
    destination: (bucket, prefix) => ({ bucket, prefix, key: `${prefix}${spec.outName}` }),
    plan: (tool, { variant, src, dst }) => tool.one({ variant, src, dst, codec: spec.codec }),
    // The C tool alone on the local copy, output discarded: no S3, no network, every core
    // (the bound), or one thread (the CPU floor).
    bound: (tools, { src, floor }) => tools.local.one({ src, codec: spec.codec, floor }),
    // A compressed stream can only be checked from its start: decompress it all.
    async verify({ s3, src, dst, zstdBin }) {
      if (spec.codec === 'gunzip' || spec.codec === 'unzstd') {
        const size = await objectSize(s3, dst.bucket, dst.key);
        if (size !== src.size) throw new Error(`output is ${size} bytes, expected ${src.size}`);
        if ((await hashObject(s3, dst.bucket, dst.key)) !== src.sha256)
          throw new Error('output SHA-256 differs from the source text');
        return 'size + full SHA-256';
      }
      const { sha256, bytes } =
        spec.codec === 'gzip'
          ? await hashGunzipped(s3, dst.bucket, dst.key)
          : await hashUnzstd(s3, dst.bucket, dst.key, zstdBin);
      if (bytes !== src.size)
        throw new Error(`output decompresses to ${bytes} bytes, expected ${src.size}`);
      if (sha256 !== src.sha256)
        throw new Error('decompressed output SHA-256 differs from the source');
      return `${spec.codec === 'gzip' ? 'gunzip' : 'zstd -d'}: size + full SHA-256`;
    },
  };
}

/** @type {import('../run.mjs').Scenario} */
export const gzipText = codecScenario({
  id: 'c',
  title: 'gzip level 1 of one text object',
  codec: 'gzip',
  input: 'none',
  name: 'object.log',
  outName: 'object.log.gz',
});

/** @type {import('../run.mjs').Scenario} */
export const zstdText = codecScenario({
  id: 'd',
  title: 'zstd level 1 of one text object',
  codec: 'zstd',
  input: 'none',
  name: 'object.log',
  outName: 'object.log.zst',
});

/** @type {import('../run.mjs').Scenario} */
export const gunzipText = codecScenario({
  id: 'e',
  title: 'gunzip of one gzip object back to text',
  codec: 'gunzip',
  input: 'gzip',
  name: 'object.log.gz',
  outName: 'object.log',
});

/** @type {import('../run.mjs').Scenario} */
export const unzstdText = codecScenario({
  id: 'f',
  title: 'unzstd of one zstd object back to text',
  codec: 'unzstd',
  input: 'zstd',
  name: 'object.log.zst',
  outName: 'object.log',
});

/** @type {import('../run.mjs').Scenario} */
export const gunzipCliText = codecScenario({
  id: 'e1',
  title: 'gunzip of one gzip object written by `gzip -1` (one member) back to text',
  codec: 'gunzip',
  input: 'gzip-cli',
  name: 'object.log.gz',
  outName: 'object.log',
});

/** @type {import('../run.mjs').Scenario} */
export const unzstdCliText = codecScenario({
  id: 'f1',
  title: 'unzstd of one zstd object written by `zstd -1` (one frame) back to text',
  codec: 'unzstd',
  input: 'zstd-cli',
  name: 'object.log.zst',
  outName: 'object.log',
});
