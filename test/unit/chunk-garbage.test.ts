import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ParallelGzip } from '../../src/jobs/kit/parallel-gzip.js';
import { ParallelZstd } from '../../src/jobs/kit/parallel-zstd.js';
import { ChunkGarbage } from '../../src/transfer/chunk-garbage.js';
import { UploadPartReader } from '../../src/transfer/upload-part-reader.js';

const KiB = 1024;

/** A ChunkGarbage whose collector only records what it was asked for. */
function recording(every: number): { garbage: ChunkGarbage; asked: string[] } {
  const asked: string[] = [];
  const garbage = new ChunkGarbage({ every, collect: ({ type }) => asked.push(type) });
  return { garbage, asked };
}

/** `count` chunks of `size` bytes, each byte its chunk's index. */
function chunks(count: number, size: number): Readable {
  return Readable.from(Array.from({ length: count }, (_, i) => Buffer.alloc(size, i)));
}

describe('young-generation collections after chunks are copied into parts', () => {
  it('asks for one young-generation collection per `every` bytes of chunks copied', async () => {
    const { garbage, asked } = recording(64 * KiB);
    const reader = new UploadPartReader(chunks(10, 16 * KiB), garbage);
    const part = Buffer.alloc(32 * KiB);
    const signal = new AbortController().signal;
    const filled: number[] = [];
    for (;;) {
      const n = await reader.fill(part, signal);
      filled.push(n);
      if (n < part.length) break;
    }
    // 160 KiB in parts of 32 KiB: a collection after the 2nd and the 4th part.
    expect(filled).toEqual([32 * KiB, 32 * KiB, 32 * KiB, 32 * KiB, 32 * KiB, 0]);
    expect(asked).toEqual(['minor', 'minor']);
    expect(garbage.collections).toBe(2);
  });

  it('copies every byte in order whatever the chunk and part sizes', async () => {
    const { garbage } = recording(1);
    const reader = new UploadPartReader(chunks(5, 10), garbage);
    const part = Buffer.alloc(7);
    const signal = new AbortController().signal;
    const out: Buffer[] = [];
    for (;;) {
      const n = await reader.fill(part, signal);
      out.push(Buffer.from(part.subarray(0, n)));
      if (n < part.length) break;
    }
    const expected = Buffer.concat(Array.from({ length: 5 }, (_, i) => Buffer.alloc(10, i)));
    expect(Buffer.concat(out)).toEqual(expected);
  });

  it('collects nothing for a file body, which is read straight into the parts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chunk-garbage-'));
    try {
      const path = join(dir, 'body.bin');
      await writeFile(path, Buffer.alloc(100 * KiB, 7));
      const file = await open(path);
      try {
        const { garbage, asked } = recording(1);
        const reader = new UploadPartReader({ file }, garbage);
        const part = Buffer.alloc(64 * KiB);
        const signal = new AbortController().signal;
        expect(await reader.fill(part, signal)).toBe(64 * KiB);
        expect(await reader.fill(part, signal)).toBe(36 * KiB);
        expect(asked).toEqual([]);
      } finally {
        await file.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('does nothing without a collector (Node started without --expose-gc)', () => {
    const garbage = new ChunkGarbage({ every: 1, collect: undefined });
    garbage.copied(10 * KiB);
    expect(garbage.collections).toBe(0);
  });

  it('counts the chunks a codec stage copies into its blocks, whatever the chunk sizes', async () => {
    // 100 chunks of 16 KiB and 96 of 5 KiB (cut across 64 KiB blocks): 2080 KiB copied.
    const input = [
      ...Array.from({ length: 100 }, (_, i) => Buffer.alloc(16 * KiB, i)),
      ...Array.from({ length: 96 }, (_, i) => Buffer.alloc(5 * KiB, 200 - i)),
    ];
    const expected = Buffer.concat(input);
    for (const [name, stage, decode] of [
      [
        'gzip',
        (garbage: ChunkGarbage) => new ParallelGzip({ blockSize: 64 * KiB, garbage }),
        gunzipSync,
      ],
      [
        'zstd',
        (garbage: ChunkGarbage) => new ParallelZstd({ blockSize: 64 * KiB, garbage }),
        zstdDecompressSync,
      ],
    ] as const) {
      const { garbage, asked } = recording(80 * KiB);
      const out: Buffer[] = [];
      await pipeline(Readable.from(input), stage(garbage), async (source) => {
        for await (const piece of source) out.push(piece as Buffer);
      });
      expect(decode(Buffer.concat(out)).equals(expected), name).toBe(true);
      // A collection per 80 KiB of chunks copied: 26 in 2080 KiB.
      expect(asked.length, name).toBe(26);
    }
  });
});
