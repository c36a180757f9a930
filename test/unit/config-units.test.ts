import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { durationSchema, formatDuration, parseDuration } from '../../src/config/duration-schema.js';
import { formatSize, parseSize, sizeInRange, sizeSchema } from '../../src/config/size-schema.js';

describe('sizes', () => {
  it('parses bytes and binary and decimal units, case-insensitively', () => {
    expect(parseSize('1024')).toBe(1024);
    expect(parseSize('8MiB')).toBe(8 * 1024 ** 2);
    expect(parseSize('5MB')).toBe(5_000_000);
    expect(parseSize('64 kib')).toBe(65_536);
    expect(parseSize('1.5GiB')).toBe(1.5 * 1024 ** 3);
  });

  it('refuses what is not a size', () => {
    for (const bad of ['', 'MiB', '-5MiB', '5 parsecs', '1e6']) {
      expect(() => parseSize(bad), bad).toThrow(/not a size/);
    }
  });

  it('formats sizes for help and messages', () => {
    expect(formatSize(8 * 1024 ** 2)).toBe('8 MiB');
    expect(formatSize(512)).toBe('512 B');
    expect(formatSize(1.5 * 1024 ** 3)).toBe('1.5 GiB');
  });

  it('sizeSchema takes numbers and strings and reports bad text as an issue', () => {
    const s = z.object({ partSize: sizeSchema.default(8 * 1024 ** 2) });
    expect(s.parse({}).partSize).toBe(8 * 1024 ** 2);
    expect(s.parse({ partSize: '16MiB' }).partSize).toBe(16 * 1024 ** 2);
    expect(s.parse({ partSize: 100 }).partSize).toBe(100);
    const bad = s.safeParse({ partSize: 'huge' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['partSize']);
  });

  it('sizeInRange says the bound in MiB', () => {
    const r = sizeInRange({ min: 5 * 1024 ** 2 }).safeParse('1MiB');
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe('must be at least 5 MiB (got 1 MiB)');
    expect(sizeInRange({ min: 5 * 1024 ** 2 }).parse('5MiB')).toBe(5 * 1024 ** 2);
  });
});

describe('durations', () => {
  it('parses units and compound durations into milliseconds', () => {
    expect(parseDuration('25s')).toBe(25_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('0')).toBe(0);
  });

  it('refuses bare numbers and junk', () => {
    for (const bad of ['25', 's', '5 s', '10y', '1h 30m', '-1s']) {
      expect(() => parseDuration(bad), bad).toThrow(/not a duration/);
    }
  });

  it('formats durations', () => {
    expect(formatDuration(25_000)).toBe('25s');
    expect(formatDuration(500)).toBe('500ms');
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(86_400_000)).toBe('24h');
  });

  it('durationSchema accepts milliseconds from JSON and text with units', () => {
    expect(durationSchema.parse(1500)).toBe(1500);
    expect(durationSchema.parse('2m')).toBe(120_000);
    expect(durationSchema.safeParse('2 minutes').success).toBe(false);
  });
});
