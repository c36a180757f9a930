// (u) A stream of unknown length (random bytes from a pipe) uploaded by s3worker's transfer layer
// and by lib-storage's Upload with the same part size and queue size, in the same run.
import { randomFillSync } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { hashObject, objectSize } from '../lib/bench-s3.mjs';

const MiB = 1024 * 1024;
const PART_SIZE = 8 * MiB;
const QUEUE_SIZE = 4;

/** @type {import('../run.mjs').Scenario} */
export default {
  id: 'u',
  title: `upload of a stream of unknown length (${PART_SIZE / MiB} MiB parts, ${QUEUE_SIZE} in flight)`,
  unit: 'MB/s',
  runners: [
    { tool: 's3worker', variant: 'transfer' },
    { tool: 'lib-storage', variant: 'Upload' },
    // The same process with the same modules loaded, reading nothing: the RSS floor.
    { tool: 'floor', variant: 'idle' },
  ],
  // A local file of random bytes, written once and read through a pipe by every run (`cat`
  // from the page cache is far faster than /dev/urandom, which would be the bottleneck).
  async prepare({ buckets, options, tmpDir }) {
    const file = join(tmpDir, 'upload-stream.bin');
    const out = await open(file, 'w');
    const chunk = Buffer.allocUnsafe(8 * MiB);
    for (let left = options.uploadSize; left > 0; left -= chunk.length) {
      await out.write(randomFillSync(chunk), 0, Math.min(left, chunk.length));
    }
    await out.close();
    return { bucket: buckets.input, prefix: 'u/src/', size: options.uploadSize, file };
  },
  describe: (src) => `${src.size} random bytes from a pipe (cat of a local file)`,
  work: (src) => ({ bytes: src.size, objects: 1 }),
  destination: (bucket, prefix) => ({ bucket, prefix, key: `${prefix}stream.bin` }),
  // Both uploaders run under the V8 flags of the s3worker bin, so the runtime is the same.
  plan: (_tool, { runner, src, dst, root, node, nodeFlags }) => [
    [
      ...(runner.tool === 'floor' ? [] : [{ cmd: 'cat', args: [src.file] }]),
      {
        cmd: node,
        args: [
          ...nodeFlags,
          join(root, 'bench/lib/upload-stdin.mjs'),
          { s3worker: 'transfer', 'lib-storage': 'lib-storage', floor: 'idle' }[runner.tool],
          dst.bucket,
          dst.key,
          String(PART_SIZE),
          String(QUEUE_SIZE),
        ],
      },
    ],
  ],
  async verify({ s3, src, dst, stdout }) {
    const read = JSON.parse(stdout.trim().split('\n').at(-1));
    if (!read.uploaded) return 'modules loaded, nothing read';
    const size = await objectSize(s3, dst.bucket, dst.key);
    if (read.bytes !== src.size || size !== src.size) {
      throw new Error(`read ${read.bytes} bytes, stored ${size}, expected ${src.size}`);
    }
    if ((await hashObject(s3, dst.bucket, dst.key)) !== read.sha256) {
      throw new Error('stored SHA-256 differs from the bytes read');
    }
    return 'size + full SHA-256 of what was read';
  },
};
