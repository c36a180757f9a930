import { createHash } from 'node:crypto';
import { ConfigError } from '../../errors.js';

/** One shard of a split: this task handles the keys whose hash lands on `index` of `count`. */
export interface Shard {
  /** 0-based index of this task. */
  index: number;
  /** Number of tasks sharing the work (≥ 1). */
  count: number;
}

const SHARD_PATTERN = /^(\d+)\/(\d+)$/;

/** Parses `i/N` (0 ≤ i < N); returns an error message instead when the text is not one. */
export function parseShard(text: string): Shard | string {
  const m = SHARD_PATTERN.exec(text.trim());
  if (!m) return `expected INDEX/COUNT such as 0/4, got ${JSON.stringify(text)}`;
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) return 'shard count must be at least 1';
  if (index >= count)
    return `shard index ${index} must be below the count ${count} (indexes start at 0)`;
  return { index, count };
}

/**
 * The shard this task runs: the `shard` option when set, else the AWS Batch array variables
 * (`AWS_BATCH_JOB_ARRAY_INDEX` / `AWS_BATCH_JOB_ARRAY_SIZE`) when both are set, else all keys
 * (`0/1`). Batch sets these outside s3worker's own `S3WORKER_*` namespace, so they are read
 * here rather than through the config loader.
 */
export function resolveShard(
  option: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Shard {
  const batchIndex = env.AWS_BATCH_JOB_ARRAY_INDEX;
  const batchSize = env.AWS_BATCH_JOB_ARRAY_SIZE;
  const [text, path] =
    option !== undefined
      ? [option, 'shard']
      : batchIndex !== undefined && batchSize !== undefined
        ? [`${batchIndex}/${batchSize}`, 'AWS_BATCH_JOB_ARRAY_INDEX/AWS_BATCH_JOB_ARRAY_SIZE']
        : ['0/1', 'shard'];
  const shard = parseShard(text);
  if (typeof shard === 'string') throw new ConfigError([{ path, message: shard }]);
  return shard;
}

/**
 * The shard a key belongs to, from a stable hash of its UTF-8 bytes (the first 6 bytes of its
 * SHA-1, well mixed and identical on every machine and Node version), so N tasks given the same
 * listing split it with no coordination and each key lands on exactly one of them.
 */
export function shardOf(key: string, count: number): number {
  if (count <= 1) return 0;
  const digest = createHash('sha1').update(key, 'utf8').digest();
  return digest.readUIntBE(0, 6) % count;
}

/** True when `key` belongs to `shard`. */
export function inShard(key: string, shard: Shard): boolean {
  return shard.count <= 1 || shardOf(key, shard.count) === shard.index;
}
