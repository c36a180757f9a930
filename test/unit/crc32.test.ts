import { randomBytes } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, crc32Implementation, loadCrc32, useNativeCrc32 } from '../../src/transfer/crc32.js';

/** CRC32 of `data` in chunks of `size`, continued chunk by chunk. */
function chunked(data: Buffer, size: number): number {
  let value = 0;
  for (let at = 0; at < data.length; at += size) value = crc32(data.subarray(at, at + size), value);
  return value;
}

describe('CRC32', () => {
  it("gives zlib's value for any bytes, whole or chunk by chunk, before and after the switch to the native one", () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const whole = zlibCrc32(data);
    const part = new Uint8Array(data.buffer, data.byteOffset + 5, 1000);
    for (const expected of ['zlib', 'native'] as const) {
      if (expected === 'native') {
        // Loads on this platform: a broken install would fall back to zlib's, slower.
        expect(useNativeCrc32().name).toBe('native');
      }
      expect(crc32Implementation().name).toBe(expected);
      expect(crc32(data)).toBe(whole);
      for (const size of [1, 7, 4096, 65_536, 1_000_003]) {
        expect(chunked(data, size), `${expected}, chunks of ${size}`).toBe(whole);
      }
      expect(crc32(new Uint8Array(0))).toBe(0);
      expect(crc32(part, 12_345)).toBe(zlibCrc32(data.subarray(5, 1005), 12_345));
    }
    // Once switched, it stays.
    expect(useNativeCrc32()).toBe(crc32Implementation());
  });

  it("falls back to zlib's where the native module does not load, with the same values", () => {
    const fallback = loadCrc32(() => {
      throw new Error('Cannot find module @node-rs/crc32-linux-x64-gnu');
    });
    expect(fallback.name).toBe('zlib');
    const data = randomBytes(100_000);
    expect(fallback.crc32(data)).toBe(zlibCrc32(data));
    expect(fallback.crc32(data, 99)).toBe(zlibCrc32(data, 99));
  });
});
