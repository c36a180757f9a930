import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  inShard,
  parseShard,
  resolveShard,
  shardOf,
} from '../../src/jobs/stream-transform/shard.js';

describe('sharding', () => {
  it('puts every key in exactly one of N shards', () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `data/part-${i}.json`);
    const counts = [0, 0, 0];
    for (const key of keys) {
      const owners = [0, 1, 2].filter((index) => inShard(key, { index, count: 3 }));
      expect(owners).toHaveLength(1);
      counts[owners[0]!]!++;
    }
    // Well spread: each shard gets a fair share (expected 1000 each).
    for (const c of counts) expect(c).toBeGreaterThan(850);
  });

  it('is stable: the same key always lands on the same shard', () => {
    expect(shardOf('a/b/ünï.txt', 7)).toBe(shardOf('a/b/ünï.txt', 7));
    // Pinned values (first 6 bytes of SHA-1): a change of hash would reshuffle tasks mid-run.
    expect(shardOf('hello', 1000)).toBe(973);
    expect([shardOf('hello', 4), shardOf('world', 4)]).toEqual([1, 0]);
  });

  it('parses INDEX/COUNT and says what is wrong otherwise', () => {
    expect(parseShard('2/8')).toEqual({ index: 2, count: 8 });
    expect(parseShard('8/8')).toMatch(/below the count/);
    expect(parseShard('1/0')).toMatch(/at least 1/);
    expect(parseShard('a/b')).toMatch(/INDEX\/COUNT/);
  });

  it('reads the AWS Batch array variables when no shard option is given', () => {
    const env = { AWS_BATCH_JOB_ARRAY_INDEX: '3', AWS_BATCH_JOB_ARRAY_SIZE: '5' };
    expect(resolveShard(undefined, env)).toEqual({ index: 3, count: 5 });
    expect(resolveShard('1/2', env)).toEqual({ index: 1, count: 2 });
    expect(resolveShard(undefined, {})).toEqual({ index: 0, count: 1 });
    expect(() =>
      resolveShard(undefined, { AWS_BATCH_JOB_ARRAY_INDEX: '5', AWS_BATCH_JOB_ARRAY_SIZE: '5' }),
    ).toThrow(ConfigError);
  });
});
