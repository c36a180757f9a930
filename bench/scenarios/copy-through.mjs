// (a) Copy-through of one big object: GET → identity → PUT (not a server-side copy), beside
// warp's PUT ceiling of the same MinIO in the same run.
import { join } from 'node:path';
import { hashObject, objectSize, putRandomObject } from '../lib/bench-s3.mjs';
import { CEILING } from '../lib/tools.mjs';

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
  // After the tools: warp's PUT-only ceiling, which s3worker's copy-through is a ratio of.
  extraRunners: [CEILING],
  destination: (bucket, prefix) => ({ bucket, prefix, key: `${prefix}${NAME}` }),
  plan: (tool, { variant, src, dst, runner, buckets, options, tmpDir, attempt }) =>
    runner.tool === CEILING.tool
      ? tool.put({
          bucket: buckets.warp,
          seconds: options.warpSeconds,
          benchdata: join(tmpDir, `warp-put-${attempt}`),
        })
      : tool.one({ variant, src, dst }),
  verify: ({ s3, src, dst, options, runner, stdout }) =>
    runner.tool === CEILING.tool ? readWarpPut(stdout) : verifyCopy(s3, src, dst, options.verify),
};

/**
 * warp's own result (`--json`): the average it reports (bytes over the whole seconds its
 * analysis counts) as the run's work, so the row's MB/s is warp's. A run with an error counts
 * as failed.
 * @returns {{ verified: string, work: { bytes: number, seconds: number, totalBytes: number } }}
 *   `totalBytes`: every byte it PUT, which its CPU seconds are divided by
 */
export function readWarpPut(stdout) {
  const start = stdout.indexOf('{');
  if (start < 0) throw new Error(`warp printed no JSON: ${stdout.slice(0, 300)}`);
  let result;
  try {
    result = JSON.parse(stdout.slice(start));
  } catch (error) {
    throw new Error(`warp's output is not JSON (${error.message}): ${stdout.slice(0, 300)}`);
  }
  const total = result.total;
  const throughput = total?.throughput;
  if (!throughput?.measure_duration_millis || !throughput.bytes)
    throw new Error('warp measured no throughput (too short a --warp-duration?)');
  if (total.total_errors > 0)
    throw new Error(`warp saw ${total.total_errors} errors: ${JSON.stringify(total.first_errors)}`);
  return {
    verified: `warp: ${total.total_requests} PUTs of ${total.total_bytes / total.total_objects} bytes, no errors`,
    work: {
      bytes: throughput.bytes,
      seconds: throughput.measure_duration_millis / 1000,
      totalBytes: total.total_bytes,
    },
  };
}
