// (c) gzip level 1 of one big log-like text object.
import { hashGunzipped, putLogTextObject } from '../lib/bench-s3.mjs';

const NAME = 'object.log';

/** @type {import('../run.mjs').Scenario} */
export default {
  id: 'c',
  title: 'gzip level 1 of one text object',
  unit: 'MB/s',
  async prepare({ s3, buckets, options }) {
    const key = `c/src/${NAME}`;
    const sha256 = await putLogTextObject(s3, buckets.input, key, options.size);
    return { bucket: buckets.input, prefix: 'c/src/', key, size: options.size, sha256 };
  },
  describe: (src) => `one object of ${src.size} bytes of log lines`,
  work: (src) => ({ bytes: src.size, objects: 1 }),
  // s3worker's default key template adds `.gz` for gzip; the peers are given the same name.
  destination: (bucket, prefix) => ({ bucket, prefix, key: `${prefix}${NAME}.gz` }),
  plan: (tool, { variant, src, dst }) => tool.one({ variant, src, dst, gzipLevel1: true }),
  // A compressed stream can only be checked from its start: decompress it all.
  async verify({ s3, src, dst }) {
    const { sha256, bytes } = await hashGunzipped(s3, dst.bucket, dst.key);
    if (bytes !== src.size)
      throw new Error(`output decompresses to ${bytes} bytes, expected ${src.size}`);
    if (sha256 !== src.sha256)
      throw new Error('decompressed output SHA-256 differs from the source');
    return 'gunzip: size + full SHA-256';
  },
};
