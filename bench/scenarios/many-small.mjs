// (b) Many small objects bucket → bucket through identity.
import { hashObject, listSizes, putSmallObjects } from '../lib/bench-s3.mjs';

/** Objects whose content is compared with the source after each run. */
const SAMPLE_COUNT = 20;

/** @type {import('../run.mjs').Scenario} */
export default {
  id: 'b',
  title: 'many small objects bucket → bucket (identity)',
  unit: 'objects/s',
  needsLocalDir: true,
  async prepare({ s3, buckets, options }) {
    const prefix = 'b/src/';
    await putSmallObjects(s3, buckets.input, prefix, options.objects, options.objectSize);
    return {
      bucket: buckets.input,
      prefix,
      count: options.objects,
      objectSize: options.objectSize,
    };
  },
  describe: (src) => `${src.count} objects of ${src.objectSize} random bytes`,
  work: (src) => ({ bytes: src.count * src.objectSize, objects: src.count }),
  destination: (bucket, prefix) => ({ bucket, prefix }),
  plan: (tool, { variant, src, dst, localDir }) => tool.many({ variant, src, dst, localDir }),
  async verify({ s3, src, dst }) {
    const sizes = await listSizes(s3, dst.bucket, dst.prefix);
    if (sizes.size !== src.count) throw new Error(`${sizes.size} outputs, expected ${src.count}`);
    for (const [key, size] of sizes) {
      if (size !== src.objectSize)
        throw new Error(`${key} is ${size} bytes, expected ${src.objectSize}`);
    }
    const step = Math.max(1, Math.floor(src.count / SAMPLE_COUNT));
    for (let i = 0; i < src.count; i += step) {
      const name = `${String(i).padStart(6, '0')}.bin`;
      const [a, b] = await Promise.all([
        hashObject(s3, src.bucket, `${src.prefix}${name}`),
        hashObject(s3, dst.bucket, `${dst.prefix}${name}`),
      ]);
      if (a !== b) throw new Error(`${name} differs from the source`);
    }
    return `count + sizes + SHA-256 of ${Math.ceil(src.count / step)} sampled objects`;
  },
};
