import { describe, expect, it } from 'vitest';
import { parseS3Url, s3UrlSchema } from '../../src/config/s3-location.js';
import { ConfigError } from '../../src/errors.js';

describe('parseS3Url', () => {
  it('splits bucket and prefix and keeps the prefix verbatim', () => {
    expect(parseS3Url('s3://my-bucket/logs/2024/')).toEqual({
      bucket: 'my-bucket',
      prefix: 'logs/2024/',
    });
    expect(parseS3Url('s3://my.bucket.1')).toEqual({ bucket: 'my.bucket.1', prefix: '' });
    expect(parseS3Url('s3://abc/')).toEqual({ bucket: 'abc', prefix: '' });
    expect(parseS3Url('s3://abc/a b/ü+%/../x')).toEqual({ bucket: 'abc', prefix: 'a b/ü+%/../x' });
  });

  it.each([
    ['https://bucket/x', 'must start with s3://'],
    ['S3://bucket/x', 'must start with s3://'],
    ['s3:///x', 'bucket name is missing'],
    ['s3://ab', '3 to 63 characters'],
    [`s3://${'a'.repeat(64)}`, '3 to 63 characters'],
    ['s3://My_Bucket', 'lowercase letters, digits, dots and hyphens'],
    ['s3://-bucket', 'start and end'],
    ['s3://bucket-', 'start and end'],
    ['s3://a..b', 'two dots'],
    ['s3://192.168.1.1', 'IP address'],
    ['s3://xn--bucket', 'must not start with xn--'],
    ['s3://bucket-s3alias', 'must not end with -s3alias'],
    [`s3://bucket/${'k'.repeat(1025)}`, 'longer than 1024 bytes'],
  ])('rejects %s', (url, message) => {
    let caught: unknown;
    try {
      parseS3Url(url, 'input');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const issues = (caught as ConfigError).issues;
    expect(issues.some((i) => i.path === 'input' && i.message.includes(message))).toBe(true);
  });

  it('lists every problem of one URL, not only the first', () => {
    expect(() => parseS3Url('s3://-A')).toThrow(ConfigError);
    try {
      parseS3Url('s3://-A');
    } catch (err) {
      expect((err as ConfigError).issues.length).toBeGreaterThanOrEqual(3);
    }
  });
});

describe('s3UrlSchema', () => {
  it('outputs a location for a good URL', () => {
    expect(s3UrlSchema.parse('s3://in-bucket/raw/')).toEqual({
      bucket: 'in-bucket',
      prefix: 'raw/',
    });
  });

  it('reports problems as issues at the field path', () => {
    const result = s3UrlSchema.safeParse('s3://Bad_Bucket/x');
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toContain('lowercase');
  });
});
