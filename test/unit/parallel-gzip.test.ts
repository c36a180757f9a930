import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ParallelGzip } from '../../src/jobs/kit/parallel-gzip.js';

/** Log-like text: compressible, with matches that cross any block boundary. */
function logText(bytes: number): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `2026-11-27T12:00:${String(i % 60).padStart(2, '0')}Z INFO id=${(i * 7919) % 100_003} path=/api/items/${i % 977} status=200 ms=${i % 313}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join(''));
}

async function gzipWith(input: Buffer, options: ConstructorParameters<typeof ParallelGzip>[0]) {
  const chunks: Buffer[] = [];
  for (let o = 0; o < input.length; o += 65_536) chunks.push(input.subarray(o, o + 65_536));
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), new ParallelGzip(options), async (source) => {
    for await (const chunk of source) out.push(chunk as Buffer);
  });
  return Buffer.concat(out);
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('ParallelGzip', () => {
  it.each([
    [1, 1024 * 1024],
    [6, 100_000],
    [9, 40_000],
    [0, 256 * 1024],
  ])(
    'level %i, blocks of %i bytes: one gzip member that gunzips to the input',
    async (level, blockSize) => {
      const input = logText(6 * 1024 * 1024 + 12_345);
      const gz = await gzipWith(input, { level, blockSize });
      expect(gz.subarray(0, 3)).toEqual(Buffer.from([0x1f, 0x8b, 8]));
      expect(sha(gunzipSync(gz))).toBe(sha(input));
      // Primed with the previous block's window, the blocks cost under 1% against one stream.
      expect(gz.length).toBeLessThan(gzipSync(input, { level }).length * 1.01 + 64);
      // The trailer holds the whole input's size.
      expect(gz.readUInt32LE(gz.length - 4)).toBe(input.length);
    },
  );

  it('is read by the gzip command line tool, which checks CRC and length', async () => {
    const input = Buffer.concat([logText(3 * 1024 * 1024), randomBytes(500_000)]);
    const gz = await gzipWith(input, { level: 1, blockSize: 256 * 1024, concurrency: 3 });
    const result = spawnSync('gzip', ['-dc'], { input: gz, maxBuffer: 64 * 1024 * 1024 });
    expect(result.status, result.stderr.toString()).toBe(0);
    expect(sha(result.stdout)).toBe(sha(input));
  });

  it('writes a valid empty gzip for an empty input, and one block for a small one', async () => {
    expect(gunzipSync(await gzipWith(Buffer.alloc(0), {})).length).toBe(0);
    const small = Buffer.from('hello, world\n');
    expect(gunzipSync(await gzipWith(small, {})).toString()).toBe('hello, world\n');
  });

  it('fails the stream when a block cannot be compressed, and releases what is in flight', async () => {
    const input = logText(3 * 1024 * 1024);
    // An invalid level makes every deflate fail on the thread pool.
    await expect(gzipWith(input, { level: 42, blockSize: 256 * 1024 })).rejects.toThrow();
  });
});
