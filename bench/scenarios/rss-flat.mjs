// Peak RSS of s3worker's copy-through with default settings at several object sizes: memory
// should not grow with the object.
import copyThrough, { prepareRandomObject, verifyCopy } from './copy-through.mjs';

/** @type {import('../run.mjs').Scenario} */
export default {
  id: 'rss',
  title: 'peak RSS of s3worker copy-through (defaults) by object size',
  unit: 'MB/s',
  onlyTool: { tool: 's3worker', variant: 'default' },
  // One source per size; each is removed before the next is made, so MinIO holds one at a time.
  sizes: (options) => options.rssSizes,
  async prepare({ s3, buckets, size }) {
    return prepareRandomObject(s3, buckets.input, `rss-${size}/`, size);
  },
  describe: (src) => `one object of ${src.size} random bytes`,
  work: copyThrough.work,
  destination: copyThrough.destination,
  plan: copyThrough.plan,
  verify: ({ s3, src, dst, options }) => verifyCopy(s3, src, dst, options.verify),
};
