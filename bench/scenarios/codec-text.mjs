// (c)–(f): one big object of log lines through a codec: gzip -1, zstd -1, and back to text.
import { join } from 'node:path';
import { hashGunzipped, hashObject, hashUnzstd, objectSize, putLogText } from '../lib/bench-s3.mjs';

/**
 * A codec scenario: the source is `size` bytes of log lines stored as `input` (plain text, or
 * compressed as the matching transform writes it), run through `codec` by every tool, and the
 * C tool alone on a local copy of the source as the physical bound. Throughput counts bytes of
 * text, compressed or decompressed, so the four scenarios compare.
 *
 * @param {{ id: string, title: string, codec: 'gzip' | 'zstd' | 'gunzip' | 'unzstd',
 *   input: 'none' | 'gzip' | 'zstd', name: string, outName: string }} spec
 */
function codecScenario(spec) {
  return {
    id: spec.id,
    title: spec.title,
    unit: 'MB/s',
    codec: spec.codec,
    async prepare({ s3, buckets, options, tmpDir }) {
      const key = `${spec.id}/src/${spec.name}`;
      const localFile = join(tmpDir, `${spec.id}-${spec.name}`);
      const { sha256, bytes } = await putLogText(s3, buckets.input, key, options.size, {
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
      };
    },
    describe: (src) =>
      spec.input === 'none'
        ? `one object of ${src.size} bytes of log lines`
        : `one ${spec.input} object of ${src.stored} bytes holding ${src.size} bytes of log lines` +
          (spec.input === 'zstd' ? ' (level 1, 4 MiB frames)' : ' (level 1, one member)'),
    work: (src) => ({ bytes: src.size, objects: 1 }),
    // s3worker's default key template adds .gz/.zst and removes them; the peers get the same name.
    destination: (bucket, prefix) => ({ bucket, prefix, key: `${prefix}${spec.outName}` }),
    plan: (tool, { variant, src, dst }) => tool.one({ variant, src, dst, codec: spec.codec }),
    // The C tool alone on the local copy, output discarded: no S3, no network, every core.
    bound: (tools, { src }) => tools.local.one({ src, codec: spec.codec }),
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
