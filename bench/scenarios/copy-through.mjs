// (a) Copy-through of one big object: GET → identity → PUT (not a server-side copy).
import { hashObject, objectSize, putRandomObject } from '../lib/bench-s3.mjs';

const NAME = 'object.bin';
/** Bytes per sampled range when verifying by sample. */
const SAMPLE = 4 * 1024 * 1024;

/**
 * Verifies a copy: same size, and the same SHA-256 over the whole object (`full`) or over three
 * sampled ranges (start, middle, end) compared with the source (`sample`).
 */
export async function verifyCopy(s3, src, dst, mode) {
  const size = await objectSize(s3, dst.bucket, dst.key);
  if (size !== src.size)
    throw new Error(`output is ${size ?? 'missing'} bytes, expected ${src.size}`);
  if (mode === 'full') {
    const sha256 = await hashObject(s3, dst.bucket, dst.key);
    if (sha256 !== src.sha256) throw new Error('output SHA-256 differs from the source');
    return 'size + full SHA-256';
  }
  const starts = [0, Math.floor(src.size / 2), Math.max(0, src.size - SAMPLE)];
  for (const start of starts) {
    const range = [start, Math.min(src.size, start + SAMPLE) - 1];
    const [a, b] = await Promise.all([
      hashObject(s3, src.bucket, src.key, range),
      hashObject(s3, dst.bucket, dst.key, range),
    ]);
    if (a !== b) throw new Error(`bytes ${range[0]}-${range[1]} differ from the source`);
  }
  return 'size + SHA-256 of 3 sampled 4 MiB ranges';
}

/** Generates one random object of `size` bytes under `${prefix}src/`. */
export async function prepareRandomObject(s3, bucket, prefix, size) {
  const key = `${prefix}src/${NAME}`;
  const sha256 = await putRandomObject(s3, bucket, key, size);
  return { bucket, prefix: `${prefix}src/`, key, size, sha256 };
}

/** @type {import('../run.mjs').Scenario} */
export default {
  id: 'a',
  title: 'copy-through of one object (GET → identity → PUT)',
  unit: 'MB/s',
  async prepare({ s3, buckets, options }) {
    return prepareRandomObject(s3, buckets.input, 'a/', options.size);
  },
  describe: (src) => `one object of ${src.size} random bytes`,
  work: (src) => ({ bytes: src.size, objects: 1 }),
  destination: (bucket, prefix) => ({ bucket, prefix, key: `${prefix}${NAME}` }),
  plan: (tool, { variant, src, dst }) => tool.one({ variant, src, dst }),
  verify: ({ s3, src, dst, options }) => verifyCopy(s3, src, dst, options.verify),
};
