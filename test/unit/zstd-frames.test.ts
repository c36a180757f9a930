import { randomBytes } from 'node:crypto';
import { constants, zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FrameEndFinder, parseFrameHeader } from '../../src/jobs/kit/zstd-frames.js';

const frame = (input: Buffer, checksum = true) =>
  zstdCompressSync(input, { params: { [constants.ZSTD_c_checksumFlag]: checksum ? 1 : 0 } });

function skippable(data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(0x184d2a53, 0);
  header.writeUInt32LE(data.length, 4);
  return Buffer.concat([header, data]);
}

/** Splits a stream of frames into frames, feeding the finder `step` bytes at a time. */
function split(stream: Buffer, step: number): number[] {
  const sizes: number[] = [];
  let at = 0;
  while (at < stream.length) {
    const header = parseFrameHeader(stream.subarray(at));
    if (!header) throw new Error('header cut short');
    const finder = new FrameEndFinder(header);
    let size = 0;
    for (;;) {
      const piece = stream.subarray(at + size, Math.min(at + size + step, stream.length));
      if (piece.length === 0) throw new Error('stream ended inside a frame');
      const { consumed, done } = finder.feed(piece);
      size += consumed;
      if (done) break;
      if (consumed !== piece.length) throw new Error('stopped short of the frame end');
    }
    sizes.push(size);
    at += size;
  }
  return sizes;
}

describe('zstd frames', () => {
  it('reads the content size and checksum flag of a frame header', () => {
    const f = frame(Buffer.alloc(100_000, 'a'));
    expect(parseFrameHeader(f)).toMatchObject({
      kind: 'zstd',
      contentSize: 100_000,
      checksum: true,
    });
    expect(parseFrameHeader(frame(Buffer.alloc(0), false))).toMatchObject({
      contentSize: 0,
      checksum: false,
    });
    // Too few bytes to tell: undefined, not a guess.
    expect(parseFrameHeader(f.subarray(0, 5))).toBeUndefined();
  });

  it('refuses bytes that are not a frame', () => {
    expect(() => parseFrameHeader(Buffer.from('hello world, not zstd'))).toThrow(
      /not a zstd frame/,
    );
  });

  it.each([1, 2, 3, 7, 4096, 1 << 20])(
    'finds every frame boundary of a multi-frame stream fed %i bytes at a time',
    (step) => {
      const frames = [
        frame(Buffer.from('a')),
        frame(randomBytes(140_000)), // raw blocks (two: a block holds 128 KiB at most)
        skippable(Buffer.from('skip me')),
        frame(Buffer.alloc(300_000, 'z'), false), // run-length blocks, no checksum
        frame(Buffer.from('line of text\n'.repeat(12_000))), // compressed blocks
        frame(Buffer.alloc(0)),
      ];
      expect(split(Buffer.concat(frames), step)).toEqual(frames.map((f) => f.length));
    },
  );

  it('fails on a block of the reserved type', () => {
    const f = Buffer.from(frame(Buffer.from('hello')));
    const header = parseFrameHeader(f);
    if (header?.kind !== 'zstd') throw new Error('expected a zstd frame');
    // Block type bits (1-2) set to 3.
    f[header.headerSize] = f[header.headerSize]! | 0b110;
    expect(() => new FrameEndFinder(header).feed(f)).toThrow(/reserved type/);
  });
});
