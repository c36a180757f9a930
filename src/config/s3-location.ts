import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';

/** A bucket and a key prefix inside it, parsed from `s3://bucket/prefix`. */
export interface S3Location {
  bucket: string;
  /** Everything after `bucket/`, verbatim (may be empty; not normalised, no leading slash). */
  prefix: string;
}

/** S3 caps keys at 1024 bytes of UTF-8; a prefix longer than that can match nothing. */
const MAX_KEY_BYTES = 1024;

/**
 * Problems with `url` as an `s3://bucket/prefix` location, as messages (empty when valid).
 * Bucket rules are the general-purpose bucket naming rules of S3: 3–63 characters, lowercase
 * letters, digits, dots and hyphens, starting and ending with a letter or digit, no `..`, not an
 * IP address, and none of the prefixes/suffixes S3 reserves.
 */
export function s3UrlProblems(url: string): string[] {
  if (!url.startsWith('s3://')) {
    return [`must start with s3:// (got ${JSON.stringify(url.slice(0, 40))})`];
  }
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefix = slash === -1 ? '' : rest.slice(slash + 1);
  const problems = bucketNameProblems(bucket);
  if (Buffer.byteLength(prefix, 'utf8') > MAX_KEY_BYTES) {
    problems.push(`key prefix is longer than ${MAX_KEY_BYTES} bytes, S3's limit for a key`);
  }
  return problems;
}

/** Problems with `bucket` as an S3 general-purpose bucket name (empty when valid). */
export function bucketNameProblems(bucket: string): string[] {
  if (bucket === '') return ['bucket name is missing (expected s3://bucket/prefix)'];
  const problems: string[] = [];
  const show = JSON.stringify(bucket);
  if (bucket.length < 3 || bucket.length > 63) {
    problems.push(`bucket name ${show} must be 3 to 63 characters long`);
  }
  if (!/^[a-z0-9.-]*$/.test(bucket)) {
    problems.push(
      `bucket name ${show} may contain only lowercase letters, digits, dots and hyphens`,
    );
  }
  if (!/^[a-z0-9]/.test(bucket) || !/[a-z0-9]$/.test(bucket)) {
    problems.push(`bucket name ${show} must start and end with a lowercase letter or a digit`);
  }
  if (bucket.includes('..'))
    problems.push(`bucket name ${show} must not contain two dots in a row`);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bucket)) {
    problems.push(`bucket name ${show} must not look like an IP address`);
  }
  const reservedPrefix = ['xn--', 'sthree-', 'amzn-s3-demo-'].find((p) => bucket.startsWith(p));
  if (reservedPrefix) problems.push(`bucket name ${show} must not start with ${reservedPrefix}`);
  const reservedSuffix = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'].find((s) =>
    bucket.endsWith(s),
  );
  if (reservedSuffix) problems.push(`bucket name ${show} must not end with ${reservedSuffix}`);
  return problems;
}

/**
 * Parses `s3://bucket/prefix` strictly. The prefix is kept verbatim (`s3://b/logs` and
 * `s3://b/logs/` are different prefixes, as in S3).
 *
 * @param field config path named in the error (default `url`).
 * @throws ConfigError listing every problem with the URL.
 */
export function parseS3Url(url: string, field = 'url'): S3Location {
  const problems = s3UrlProblems(url);
  if (problems.length > 0) {
    const issues: ConfigIssue[] = problems.map((message) => ({ path: field, message }));
    throw new ConfigError(issues, { hint: 'write the location as s3://bucket/prefix' });
  }
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  return slash === -1
    ? { bucket: rest, prefix: '' }
    : { bucket: rest.slice(0, slash), prefix: rest.slice(slash + 1) };
}

/**
 * Zod schema for an `s3://bucket/prefix` config field: validates like `parseS3Url` (every
 * problem becomes an issue at the field's path) and outputs an `S3Location`.
 */
export const s3UrlSchema = z.string().transform((url, ctx): S3Location => {
  const problems = s3UrlProblems(url);
  for (const message of problems) ctx.addIssue({ code: 'custom', message, input: url });
  if (problems.length > 0) return z.NEVER;
  return parseS3Url(url);
});
