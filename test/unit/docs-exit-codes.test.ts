import { readFileSync } from 'node:fs';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { explainS3Error } from '../../src/s3/explain-error.js';

/** docs/running.md's "Exit codes" table: exit code → its name and the error codes on its row. */
function exitCodeTable(): Map<number, { name: string; errorCodes: string[] }> {
  const page = readFileSync(new URL('../../docs/running.md', import.meta.url), 'utf8');
  const start = page.indexOf('\n## Exit codes\n');
  expect(start).toBeGreaterThan(-1);
  const end = page.indexOf('\n## ', start + 1);
  const rows = new Map<number, { name: string; errorCodes: string[] }>();
  for (const line of page.slice(start, end === -1 ? undefined : end).split('\n')) {
    const m = /^\| (\d+) \| (\w+) \|.*\|(.*)\|$/.exec(line);
    if (!m) continue;
    rows.set(Number(m[1]), {
      name: m[2]!,
      errorCodes: [...m[3]!.matchAll(/`([A-Z0-9_]+)`/g)].map((x) => x[1]!),
    });
  }
  return rows;
}

describe('the exit-code table of docs/running.md', () => {
  it('lists every exit code of src/errors.ts with its name, and no other', () => {
    const table = exitCodeTable();
    expect([...table.keys()].sort((a, b) => a - b)).toEqual(
      Object.values(ExitCode).sort((a, b) => a - b),
    );
    for (const [name, code] of Object.entries(ExitCode)) {
      expect(table.get(code)?.name, `exit ${code}`).toBe(name);
    }
  });

  it('puts each error code explainS3Error produces on the row of its exit code', () => {
    const table = exitCodeTable();
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
      expect(
        table.get(e.exitCode)?.errorCodes,
        `${e.code} on the row of exit ${e.exitCode}`,
      ).toContain(e.code);
    }
  });
});
