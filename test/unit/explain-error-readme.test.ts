import { readFileSync } from 'node:fs';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { explainS3Error } from '../../src/s3/explain-error.js';

/** The README's "Errors and exit codes" table: exit code → error codes listed on its row. */
function readmeTable(): Map<number, string[]> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('**Errors and exit codes**');
  expect(start).toBeGreaterThan(-1);
  const rows = new Map<number, string[]>();
  for (const line of readme.slice(start).split('\n').slice(1)) {
    if (line.startsWith('| ---') || line.startsWith('| Exit')) continue;
    const m = /^\| (\d+) \|.*\|(.*)\|$/.exec(line);
    if (!m) {
      if (rows.size > 0) break;
      continue;
    }
    rows.set(
      Number(m[1]),
      [...m[2]!.matchAll(/`([A-Z0-9_]+)`/g)].map((x) => x[1]!),
    );
  }
  return rows;
}

describe('the README exit-code table', () => {
  it('lists every exit code of src/errors.ts, and no other', () => {
    expect([...readmeTable().keys()].sort((a, b) => a - b)).toEqual(
      Object.values(ExitCode).sort((a, b) => a - b),
    );
  });

  it('puts each error code explainS3Error produces on the row of its exit code', () => {
    const table = readmeTable();
    const samples = [
      'AccessDenied',
      'NoSuchBucket',
      'PermanentRedirect',
      'RequestTimeTooSkewed',
      'ExpiredToken',
      'InvalidAccessKeyId',
      'SignatureDoesNotMatch',
      'NoSuchKey',
      'InternalError',
    ].map(
      (name) =>
        new S3ServiceException({
          name,
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
          message: name,
        }),
    );
    const more = [
      Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('none'), { name: 'CredentialsProviderError' }),
    ];
    for (const err of [...samples, ...more]) {
      const e = explainS3Error(err, { action: 'GetObject', bucket: 'b', key: 'k' });
      expect(table.get(e.exitCode), `${e.code} on the row of exit ${e.exitCode}`).toContain(e.code);
    }
  });
});
