import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decompressStage } from '../../src/jobs/kit/compression.js';

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

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Waits for `ms` milliseconds. */
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('decompressing files as users have them', () => {
  it('a one-member file from `gzip -1` decodes byte-exact', async () => {
    const text = logText(24 * MiB);
    const gz = cli('gzip', ['-1', '-c'], text);
    expect(sha(await decode(decompressStage('gzip')!, gz))).toBe(sha(text));
  });

  it('a one-frame file from `zstd -1` on a pipe (no content size) decodes byte-exact', async () => {
    const text = logText(24 * MiB);
    const zst = cli('zstd', ['-1', '-q', '-c'], text);
    // One frame whose header does not give its size (streamed through one decoder).
    expect(zst.readUInt32LE(0)).toBe(0xfd2fb528);
    expect((zst[4]! & 0xc0) >> 6).toBe(0);
    expect(sha(await decode(decompressStage('zstd')!, zst))).toBe(sha(text));
  });

  it("gunzip fails with zlib's code on a corrupt member and on one cut short", async () => {
    const gz = gzipSync(logText(2 * MiB));
    const corrupt = Buffer.from(gz);
    corrupt.fill(0x55, 2000, 2100);
    await expect(decode(decompressStage('gzip')!, corrupt)).rejects.toMatchObject({
      code: 'Z_DATA_ERROR',
    });
    await expect(
      decode(decompressStage('gzip')!, gz.subarray(0, gz.length - 10)),
    ).rejects.toMatchObject({ code: 'Z_BUF_ERROR', message: 'unexpected end of file' });
  });

  for (const codec of ['gzip', 'zstd'] as const) {
    it(`${codec}: destroyed mid-way, it stops and says nothing more`, async () => {
      const zeros = Buffer.alloc(64 * MiB);
      const input = codec === 'gzip' ? gzipSync(zeros) : cli('zstd', ['-1', '-q', '-c'], zeros);
      const stage = decompressStage(codec)!;
      const errors: unknown[] = [];
      stage.on('error', (err) => errors.push(err));
      stage.end(input);
      await once(stage, 'readable');
      expect(stage.read()).not.toBeNull();
      stage.destroy();
      await once(stage, 'close');
      let later = 0;
      stage.on('data', (chunk: Buffer) => {
        later += chunk.length;
      });
      await pause(100);
      expect(later).toBe(0);
      expect(errors).toEqual([]);
    });
  }

  it('gunzip of an input that decodes to a gigabyte holds a few MiB while the reader waits', async () => {
    // 1 GiB of zeros is about 1 MiB of gzip: without back-pressure it would all be decoded.
    const member = gzipSync(Buffer.alloc(64 * MiB), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 16 }, () => member));
    const stage = decompressStage('gzip')!;
    stage.end(bomb);
    await once(stage, 'readable');
    let read = stage.read()?.length ?? 0;
    // The reader stops; the decoder gets time to run ahead if it would.
    await pause(300);
    expect(read + stage.readableLength).toBeLessThanOrEqual(4 * MiB);
    stage.on('data', (chunk: Buffer) => {
      read += chunk.length;
    });
    await once(stage, 'end');
    expect(read).toBe(16 * 64 * MiB);
  });
});
