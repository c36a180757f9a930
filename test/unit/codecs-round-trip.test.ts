import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { type Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, gzipSync, zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compressStage, decompressStage } from '../../src/jobs/kit/compression.js';
import { CorruptInputError } from '../../src/jobs/kit/corrupt-input-error.js';
import { ParallelUnzstd } from '../../src/jobs/kit/parallel-unzstd.js';
import { ParallelZstd } from '../../src/jobs/kit/parallel-zstd.js';
import { FrameEndFinder, parseFrameHeader } from '../../src/jobs/kit/zstd-frames.js';
import { ByteBudget } from '../../src/transfer/byte-budget.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Log-like text with some random bytes mixed in: compressible, but not only. */
function mixedInput(bytes: number, seed = 1): Buffer {
  const out = Buffer.alloc(bytes);
  let at = 0;
  let i = seed;
  while (at < bytes) {
    if (i % 50 === 0) {
      at += randomBytes(Math.min(2000, bytes - at)).copy(out, at);
    } else {
      const line = `2026-11-27T12:00:${String(i % 60).padStart(2, '0')}Z INFO id=${(i * 7919) % 100_003} path=/api/items/${i % 977} status=200\n`;
      at += out.write(line, at);
    }
    i++;
  }
  return out;
}

/** Uneven chunk sizes, so stages see inputs split at every kind of place. */
const CHUNK_SIZES = [1, 3, 4096, 65_536, 100_003, 7];

function chunked(input: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < input.length; i++) {
    const size = CHUNK_SIZES[i % CHUNK_SIZES.length]!;
    chunks.push(input.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

/** Streams `input` through a stage and collects its output. */
async function through(stage: Duplex | undefined, input: Buffer, split = true): Promise<Buffer> {
  if (!stage) throw new Error('no stage');
  const out: Buffer[] = [];
  await pipeline(Readable.from(split ? chunked(input) : [input]), stage, async (source) => {
    for await (const chunk of source) out.push(chunk as Buffer);
  });
  return Buffer.concat(out);
}

/** Runs a command line tool (argument array, no shell) on `input`; fails loudly when missing. */
function cli(cmd: string, args: string[], input: Buffer): Buffer {
  const result = spawnSync(cmd, args, { input, maxBuffer: 256 * MiB });
  if (result.error) {
    throw new Error(
      `${cmd} is needed by this test (scripts/test-services.sh installs it): ${result.error.message}`,
    );
  }
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${result.status}: ${result.stderr}`);
  }
  return result.stdout;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Params {
  level: number;
  blockSize: number;
}

type Compressor = (input: Buffer, p: Params) => Promise<Buffer> | Buffer;
type Decompressor = (input: Buffer) => Promise<Buffer> | Buffer;

const COMPRESSORS: Record<'gzip' | 'zstd', Record<string, Compressor>> = {
  gzip: {
    's3worker gzip': (input, { level, blockSize }) =>
      through(compressStage('gzip', { level, blockSize }), input),
    'gzip tool': (input, { level }) => cli('gzip', ['-c', `-${level}`], input),
    'pigz tool': (input, { level, blockSize }) =>
      cli('pigz', ['-c', `-${level}`, '-p', '2', '-b', String(blockSize / KiB)], input),
  },
  zstd: {
    's3worker zstd': (input, { level, blockSize }) =>
      through(compressStage('zstd', { level, blockSize }), input),
    // From a pipe the tool does not know the size: one frame without a content size.
    'zstd tool': (input, { level }) => cli('zstd', ['-c', '-q', `-${level}`], input),
    // Told the size: a frame with its content size, as from a file.
    'zstd tool, sized': (input, { level }) =>
      cli('zstd', ['-c', '-q', `-${level}`, `--stream-size=${input.length}`], input),
  },
};

const DECOMPRESSORS: Record<'gzip' | 'zstd', Record<string, Decompressor>> = {
  gzip: {
    's3worker gunzip': (input) => through(decompressStage('gzip'), input),
    'gzip -d tool': (input) => cli('gzip', ['-dc'], input),
  },
  zstd: {
    's3worker unzstd': (input) => through(decompressStage('zstd'), input),
    'zstd -d tool': (input) => cli('zstd', ['-dc', '-q'], input),
  },
};

const SETTINGS: Record<'gzip' | 'zstd', Params[]> = {
  gzip: [
    { level: 1, blockSize: 32 * KiB },
    { level: 6, blockSize: 128 * KiB },
    { level: 9, blockSize: 1 * MiB },
  ],
  zstd: [
    { level: 1, blockSize: 64 * KiB },
    { level: 19, blockSize: 128 * KiB },
    { level: 3, blockSize: 1 * MiB },
  ],
};

/** The inputs the issue names, sized by the block: empty, one byte, one block, a block and a byte, several. */
const inputs = (blockSize: number): Array<[string, number]> => [
  ['empty', 0],
  ['one byte', 1],
  ['exactly one block', blockSize],
  ['a block plus one byte', blockSize + 1],
  ['several blocks and a tail', 3 * blockSize + 12_345],
];

const cases = (['gzip', 'zstd'] as const).flatMap((format) =>
  Object.keys(COMPRESSORS[format]).flatMap((compressor) =>
    Object.keys(DECOMPRESSORS[format])
      // Tool to tool proves nothing about this project.
      .filter(
        (decompressor) => compressor.startsWith('s3worker') || decompressor.startsWith('s3worker'),
      )
      .flatMap((decompressor) =>
        SETTINGS[format].map((settings) => ({ format, compressor, decompressor, settings })),
      ),
  ),
);

describe('codec round trips', () => {
  it.each(cases)(
    '$compressor → $decompressor at level $settings.level, blocks of $settings.blockSize bytes',
    async ({ format, compressor, decompressor, settings }) => {
      for (const [name, size] of inputs(settings.blockSize)) {
        const input = mixedInput(size, settings.level);
        const compressed = await COMPRESSORS[format][compressor]!(input, settings);
        const output = await DECOMPRESSORS[format][decompressor]!(compressed);
        expect({ input: name, bytes: output.length }).toEqual({ input: name, bytes: size });
        expect(sha(output), name).toBe(sha(input));
      }
    },
  );

  it('zstd writes one frame per block, each with its content size and checksum', async () => {
    const input = mixedInput(3 * 64 * KiB + 1);
    const zst = await through(new ParallelZstd({ level: 1, blockSize: 64 * KiB }), input);
    const frames: number[] = [];
    for (let at = 0; at < zst.length; ) {
      const header = parseFrameHeader(zst.subarray(at));
      if (header?.kind !== 'zstd') throw new Error(`no frame at ${at}`);
      expect(header.checksum).toBe(true);
      frames.push(header.contentSize ?? -1);
      at += new FrameEndFinder(header).feed(zst.subarray(at)).consumed;
    }
    expect(frames).toEqual([64 * KiB, 64 * KiB, 64 * KiB, 1]);
  });
});

describe('multi-member and multi-frame inputs decode completely', () => {
  const parts = [mixedInput(300_000, 1), mixedInput(1, 2), mixedInput(200_000, 3)];
  const whole = Buffer.concat(parts);

  it.each([
    ['in one chunk', false],
    ['in uneven chunks', true],
  ])('gunzip reads every member of a multi-member gzip, %s', async (_name, split) => {
    const gz = Buffer.concat([
      cli('gzip', ['-c', '-1'], parts[0]!),
      gzipSync(parts[1]!),
      await through(compressStage('gzip', { level: 6 }), parts[2]!),
    ]);
    const out = await through(decompressStage('gzip'), gz, split);
    expect(out.length).toBe(whole.length);
    expect(sha(out)).toBe(sha(whole));
  });

  it.each([
    ['in one chunk', false],
    ['in uneven chunks', true],
  ])('unzstd reads every frame of a multi-frame zstd, %s', async (_name, split) => {
    // Frames of every kind back to back: unsized (tool on a pipe), sized and small (decoded
    // whole), this project's, and a skippable frame in between.
    const skippable = Buffer.alloc(12);
    skippable.writeUInt32LE(0x184d2a50, 0);
    skippable.writeUInt32LE(4, 4);
    const zst = Buffer.concat([
      cli('zstd', ['-c', '-q', '-1'], parts[0]!),
      zstdCompressSync(parts[1]!),
      skippable,
      await through(compressStage('zstd', { level: 3, blockSize: 64 * KiB }), parts[2]!),
    ]);
    const out = await through(decompressStage('zstd'), zst, split);
    expect(out.length).toBe(whole.length);
    expect(sha(out)).toBe(sha(whole));
  });

  it('unzstd reads a big unsized frame followed by small sized ones', async () => {
    const big = mixedInput(20 * MiB, 4);
    const zst = Buffer.concat([
      cli('zstd', ['-c', '-q', '-1'], big),
      await through(compressStage('zstd', { level: 1, blockSize: 64 * KiB }), parts[0]!),
    ]);
    const out = await through(new ParallelUnzstd({ maxWholeFrame: 1 * MiB }), zst);
    expect(sha(out)).toBe(sha(Buffer.concat([big, parts[0]!])));
  });
});

describe('corrupt inputs fail the stream', () => {
  const input = mixedInput(500_000);

  it.each([
    ['empty', () => Buffer.alloc(0)],
    ['cut inside a frame', (zst: Buffer) => zst.subarray(0, zst.length - 100)],
    ['cut inside a frame header', (zst: Buffer) => zst.subarray(0, 3)],
    ['followed by garbage', (zst: Buffer) => Buffer.concat([zst, Buffer.from('garbage!')])],
    ['not zstd at all', () => Buffer.from('plain text, not zstd')],
  ])('unzstd: %s', async (_name, corrupt) => {
    const zst = await through(compressStage('zstd', { level: 1, blockSize: 64 * KiB }), input);
    const error = await through(decompressStage('zstd'), corrupt(zst)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptInputError);
    expect((error as CorruptInputError).code).toBe('CORRUPT_INPUT');
  });

  it('unzstd: a frame whose checksum does not match', async () => {
    const zst = Buffer.from(
      zstdCompressSync(input, { params: { [constants.ZSTD_c_checksumFlag]: 1 } }),
    );
    // The last 4 bytes are the checksum.
    zst[zst.length - 1] = zst[zst.length - 1]! ^ 0xff;
    await expect(through(decompressStage('zstd'), zst)).rejects.toThrow(/checksum/i);
  });

  it('gunzip: cut inside a member, and an empty input', async () => {
    const gz = await through(compressStage('gzip', { level: 1 }), input);
    await expect(
      through(decompressStage('gzip'), gz.subarray(0, gz.length - 10)),
    ).rejects.toThrow();
    await expect(through(decompressStage('gzip'), Buffer.alloc(0))).rejects.toThrow();
  });
});

describe('memory of the parallel codecs', () => {
  it('holds each block in flight against the budget, and gives every byte back', async () => {
    const budget = new ByteBudget(64 * MiB);
    const input = mixedInput(12 * 256 * KiB + 5);
    const stage = compressStage('zstd', { level: 1, blockSize: 256 * KiB, budget });
    const zst = await through(stage, input);
    expect(sha(await through(decompressStage('zstd', { budget }), zst))).toBe(sha(input));
    expect(budget.used).toBe(0);
    expect(budget.highWaterMark).toBeGreaterThan(0);
    // Per block, its input and as much output; never more blocks than the stage runs at once.
    const concurrency = (stage as ParallelZstd).concurrency;
    expect(budget.highWaterMark).toBeLessThanOrEqual(concurrency * 2 * 256 * KiB);
  });

  it('finishes with a budget smaller than one block (one block at a time, let through alone)', async () => {
    const budget = new ByteBudget(100 * KiB);
    const input = mixedInput(4 * 256 * KiB);
    const gz = await through(
      compressStage('gzip', { level: 1, blockSize: 256 * KiB, budget }),
      input,
    );
    expect(sha(cli('gzip', ['-dc'], gz))).toBe(sha(input));
    expect(budget.used).toBe(0);
    expect(budget.highWaterMark).toBe(2 * 256 * KiB);
  });

  it('gives the budget back when the stream is destroyed half way', async () => {
    const budget = new ByteBudget(64 * MiB);
    const stage = compressStage('zstd', { level: 1, blockSize: 64 * KiB, budget })!;
    stage.on('error', () => {});
    stage.write(mixedInput(10 * 64 * KiB));
    await new Promise((resolve) => setImmediate(resolve));
    stage.destroy(new Error('upload failed'));
    // Blocks still on the thread pool give their share back when they finish.
    for (let i = 0; i < 200 && budget.used > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(budget.used).toBe(0);
  });

  it('unzstd does not run ahead of a slow reader on a highly compressed frame', async () => {
    // 64 MiB of zeros from the tool on a pipe: one unsized frame of a few KiB, streamed.
    const zst = cli('zstd', ['-c', '-q', '-1'], Buffer.alloc(64 * MiB));
    const stage = decompressStage('zstd')!;
    stage.end(zst);
    let bytes = 0;
    // Each read takes everything buffered: the largest read is the most the stage held.
    let largestRead = 0;
    for await (const chunk of stage) {
      bytes += (chunk as Buffer).length;
      largestRead = Math.max(largestRead, (chunk as Buffer).length);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(bytes).toBe(64 * MiB);
    // Without back-pressure most of the 64 MiB would pile up in the stage's buffer.
    expect(largestRead).toBeLessThan(4 * MiB);
  });
});
