import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ParallelZstd } from '../../src/jobs/kit/parallel-zstd.js';
import { ZstdFrameEncoder } from '../../src/jobs/kit/zstd-frame-encoder.js';
import { parseFrameHeader } from '../../src/jobs/kit/zstd-frames.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Compressible text: numbered lines. */
function text(bytes: number, seed = 0): Buffer {
  const out = Buffer.alloc(bytes);
  for (let at = 0, i = seed; at < bytes; i++) {
    at += out.write(`2026-12-07T12:00:00Z INFO line=${i} user=${(i * 7919) % 10_007}\n`, at);
  }
  return out;
}

/** `zstd -d` of `frames`; fails loudly when the tool is missing. */
function zstdDecode(frames: Buffer): Buffer {
  const result = spawnSync('zstd', ['-d', '-q', '-c'], { input: frames, maxBuffer: 256 * MiB });
  if (result.error) throw result.error;
  expect(result.status, result.stderr.toString()).toBe(0);
  return result.stdout;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('ZstdFrameEncoder', () => {
  it('turns each block into one frame with its size and a checksum in the header, in one context', async () => {
    // Room for 256 KiB blocks: the 1 MiB block is bigger and is still encoded whole.
    const encoder = new ZstdFrameEncoder(3, 256 * KiB);
    try {
      const blocks = [text(256 * KiB), text(MiB, 3), text(3000, 5), randomBytes(256 * KiB)];
      const frames: Buffer[] = [];
      for (const block of blocks) frames.push(await encoder.encode(block));
      for (const [i, frame] of frames.entries()) {
        expect(parseFrameHeader(frame)).toMatchObject({
          kind: 'zstd',
          contentSize: blocks[i]!.length,
          checksum: true,
        });
        expect(zstdDecode(frame).equals(blocks[i]!)).toBe(true);
      }
      expect(zstdDecode(Buffer.concat(frames)).equals(Buffer.concat(blocks))).toBe(true);
    } finally {
      encoder.close();
    }
  });

  it('hands each frame over in a buffer of its own, which the next frames do not overwrite', async () => {
    const encoder = new ZstdFrameEncoder(1, 64 * KiB);
    try {
      const blocks = Array.from({ length: 6 }, (_, i) => text(64 * KiB, i * 1000));
      const frames: Buffer[] = [];
      for (const block of blocks) frames.push(await encoder.encode(block));
      // Read only after every block was encoded with the same context and output buffer.
      for (const [i, frame] of frames.entries()) {
        expect(frame.buffer.byteLength).toBe(frame.length);
        expect(zstdDecode(frame).equals(blocks[i]!)).toBe(true);
      }
      expect(new Set(frames.map((frame) => frame.buffer)).size).toBe(frames.length);
    } finally {
      encoder.close();
    }
  });

  it('closed while compressing, settles the block instead of leaving it hanging, and takes no more', async () => {
    const encoder = new ZstdFrameEncoder(19, MiB);
    const pending = encoder.encode(text(MiB));
    encoder.close();
    await Promise.allSettled([pending]);
    expect(encoder.broken).toBe(true);
    await expect(encoder.encode(text(100))).rejects.toThrow(/closed/);
  });
});

describe('ParallelZstd with long-lived contexts', () => {
  it('writes frames zstd -d reads back byte for byte, over many blocks and few contexts', async () => {
    const encode = vi.spyOn(ZstdFrameEncoder.prototype, 'encode');
    const input = text(5 * MiB + 12_345);
    const out: Buffer[] = [];
    await pipeline(
      Readable.from([input.subarray(0, 100_000), input.subarray(100_000)]),
      new ParallelZstd({ level: 1, blockSize: 256 * KiB, concurrency: 3 }),
      async (source) => {
        for await (const chunk of source) out.push(chunk as Buffer);
      },
    );
    expect(zstdDecode(Buffer.concat(out)).equals(input)).toBe(true);
    // 21 blocks through at most 3 contexts.
    expect(encode).toHaveBeenCalledTimes(21);
    expect(new Set(encode.mock.contexts).size).toBeLessThanOrEqual(3);
  });

  it('frees every context it made, at the end and when destroyed mid-way', async () => {
    const encode = vi.spyOn(ZstdFrameEncoder.prototype, 'encode');
    const close = vi.spyOn(ZstdFrameEncoder.prototype, 'close');
    await pipeline(
      Readable.from([text(2 * MiB)]),
      new ParallelZstd({ level: 1, blockSize: 256 * KiB, concurrency: 2 }),
      new Writable({ write: (_chunk, _encoding, done) => done() }),
    );
    const made = new Set(encode.mock.contexts);
    expect(new Set(close.mock.contexts)).toEqual(made);

    encode.mockClear();
    close.mockClear();
    const stage = new ParallelZstd({ level: 19, blockSize: MiB, concurrency: 2 });
    stage.on('data', () => {});
    stage.write(text(3 * MiB));
    await vi.waitUntil(() => encode.mock.calls.length >= 2, { timeout: 10_000 });
    stage.destroy();
    await new Promise((resolve) => stage.once('close', resolve));
    expect(new Set(close.mock.contexts)).toEqual(new Set(encode.mock.contexts));
    // Each block still on the thread pool settles (its frame is dropped).
    await Promise.allSettled(encode.mock.results.map((r) => r.value));
  });

  it('fails the stream when zstd refuses its settings', async () => {
    const stage = new ParallelZstd({ level: 'fast' as unknown as number, blockSize: 64 * KiB });
    await expect(
      pipeline(
        Readable.from([text(300 * KiB)]),
        stage,
        new Writable({ write: (_chunk, _encoding, done) => done() }),
      ),
    ).rejects.toThrow(/params/);
  });
});
