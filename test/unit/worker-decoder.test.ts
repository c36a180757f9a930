import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { decompressStage } from '../../src/jobs/kit/compression.js';
import {
  DecodeWorkerPool,
  workerDecodingAvailable,
} from '../../src/jobs/kit/decode-worker-pool.js';
import { WorkerDecoder } from '../../src/jobs/kit/worker-decoder.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Log-like text: compressible about 4:1 by gzip -1, as the bench's logs. */
function logText(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  let at = 0;
  for (let i = 0; at < bytes; i++) {
    const line = `2026-12-07T12:${String(i % 60).padStart(2, '0')}:00Z INFO orders[${1000 + (i % 9000)}]: GET /api/v1/orders/${(i * 7919) % 100_003} status=200 dur_ms=${(i % 900) / 10}\n`;
    at += out.write(line, at);
  }
  return out;
}

/** Runs a command line tool (argument array, no shell) on `input`. */
function cli(cmd: string, args: string[], input: Buffer): Buffer {
  const result = spawnSync(cmd, args, { input, maxBuffer: 256 * MiB });
  if (result.error || result.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${result.error?.message ?? result.stderr}`);
  }
  return result.stdout;
}

/** `input` in socket-sized chunks. */
function chunks(input: Buffer, size = 64 * KiB): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < input.length; at += size) out.push(input.subarray(at, at + size));
  return out;
}

async function decode(stage: Duplex, input: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks(input)), stage, async (source) => {
    for await (const chunk of source) out.push(chunk as Buffer);
  });
  return Buffer.concat(out);
}

/** Odd streams as gzip, even ones as zstd. */
const compress = (i: number, text: Buffer) => (i % 2 ? gzipSync(text) : zstdCompressSync(text));

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('decoding on a worker thread', () => {
  const pool = new DecodeWorkerPool({ size: 2 });
  afterAll(() => pool.close());

  it("is what this Node.js version's stages use", () => {
    expect(workerDecodingAvailable()).toBe(true);
  });

  it('a one-member file from `gzip -1` decodes byte-exact', async () => {
    const text = logText(24 * MiB);
    const gz = cli('gzip', ['-1', '-c'], text);
    expect(sha(await decode(decompressStage('gzip')!, gz))).toBe(sha(text));
  });

  it('a one-frame file from `zstd -1` on a pipe (no content size) decodes byte-exact', async () => {
    const text = logText(24 * MiB);
    const zst = cli('zstd', ['-1', '-q', '-c'], text);
    // One frame whose header does not give its size: streamed through one worker decoder.
    expect(zst.readUInt32LE(0)).toBe(0xfd2fb528);
    expect(sha(await decode(decompressStage('zstd')!, zst))).toBe(sha(text));
  });

  it("the worker's decoding errors become the stream's, with zlib's code", async () => {
    const gz = gzipSync(logText(2 * MiB));
    const corrupt = Buffer.from(gz);
    corrupt.fill(0x55, 2000, 2100);
    await expect(decode(new WorkerDecoder('gzip', { pool }), corrupt)).rejects.toMatchObject({
      code: 'Z_DATA_ERROR',
    });
    await expect(
      decode(new WorkerDecoder('gzip', { pool }), gz.subarray(0, gz.length - 10)),
    ).rejects.toMatchObject({ code: 'Z_BUF_ERROR', message: 'unexpected end of file' });
    expect(pool.streams).toBe(0);
  });

  it('streams sharing one thread each get their own bytes', async () => {
    const own = new DecodeWorkerPool({ size: 1 });
    try {
      const texts = [1, 2, 3, 4].map((seed) => logText(seed * MiB + seed));
      const decoded = await Promise.all(
        texts.map((text, i) =>
          decode(new WorkerDecoder(i % 2 ? 'gzip' : 'zstd', { pool: own }), compress(i, text)),
        ),
      );
      expect(decoded.map(sha)).toEqual(texts.map(sha));
      expect(own.threads).toBe(1);
    } finally {
      await own.close();
    }
  });

  it('a worker that dies fails the streams on it', async () => {
    const own = new DecodeWorkerPool({ size: 1 });
    const stage = new WorkerDecoder('gzip', { pool: own });
    stage.write(gzipSync(logText(MiB)));
    const failed = once(stage, 'error');
    await own.close();
    const [err] = await failed;
    expect((err as Error).message).toBe('decode worker pool closed');
  });

  it('destroyed mid-way, it leaves no stream open in the workers', async () => {
    const gz = gzipSync(Buffer.alloc(64 * MiB));
    const stage = new WorkerDecoder('gzip', { pool });
    stage.end(gz);
    // One chunk read, then the stream is dropped while the worker has more to decode.
    await once(stage, 'readable');
    expect(stage.read()).not.toBeNull();
    expect(pool.streams).toBe(1);
    stage.destroy();
    await once(stage, 'close');
    expect(pool.streams).toBe(0);
    // The threads stay usable for the next stream.
    const text = logText(MiB);
    expect(sha(await decode(new WorkerDecoder('gzip', { pool }), gzipSync(text)))).toBe(sha(text));
  });

  it('an input that decodes to gigabytes holds a few MiB while the reader waits', async () => {
    // 1 GiB of zeros is about 1 MiB of gzip: without back-pressure the worker would decode it all.
    const zeros = Buffer.alloc(64 * MiB);
    const member = gzipSync(zeros, { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 16 }, () => member));
    const stage = new WorkerDecoder('gzip', { pool });
    stage.end(bomb);
    await once(stage, 'readable');
    let read = stage.read()?.length ?? 0;
    // The reader stops; the worker gets time to run ahead if it would.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(read + stage.readableLength).toBeLessThanOrEqual(8 * MiB);
    // Read on: everything arrives.
    stage.on('data', (chunk: Buffer) => {
      read += chunk.length;
    });
    await once(stage, 'end');
    expect(read).toBe(16 * 64 * MiB);
  });
});
