import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { listKeys, putObjects } from '../fixtures/stream-transform/harness.js';
import { startCli, workerEnv } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';

const server = inject('servers').s3;
const SLOW_JOB = 'test/fixtures/stream-transform/slow-copy-job.mjs';
let tmp: string;
let s3: S3Client;
let bucket: { name: string; remove: () => Promise<void> };

beforeAll(async () => {
  s3 = adminClient(server);
  bucket = await createTestBucket(s3, 'st-abort');
});
afterAll(async () => {
  await bucket?.remove();
  s3?.destroy();
});
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-st-abort-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('the drain deadline with a user transform that waits on its own', () => {
  it.each([
    ['after its first bytes', '1'],
    ['before its first byte', '0'],
  ])(
    'a small object paused %s is aborted at the deadline: the run ends itself with its summary, exit 4, no output',
    async (_when, afterBytes) => {
      const prefix = `paused-${afterBytes}/`;
      await putObjects(s3, bucket.name, [{ key: `${prefix}in/small.txt`, body: 'hello\n' }]);
      const run = startCli(
        [
          'run',
          'slow-copy',
          '--handler',
          SLOW_JOB,
          '--input',
          `s3://${bucket.name}/${prefix}in/`,
          '--output',
          `s3://${bucket.name}/${prefix}out/`,
          '--drain-timeout',
          '1s',
        ],
        {
          env: workerEnv(server, tmp, {
            SLOW_DELAY_MS: '120000',
            SLOW_AFTER_BYTES: afterBytes,
            SLOW_ANNOUNCE: '1',
          }),
        },
      );
      // The transform has the object and waits on a timer that only its signal can end.
      await run.waitForLog('slow-copy paused', 60_000);
      run.child.kill('SIGTERM');
      const r = await run.done;
      expect(r.code, r.stderr).toBe(ExitCode.Interrupted);
      // Not the runtime's last resort (a process exit that writes no summary, no metrics).
      expect(r.logs.some((l) => l.msg === 'job did not stop after abort: exiting')).toBe(false);
      expect(r.logs.find((l) => l.msg === 'summary')).toMatchObject({ interrupted: true });
      expect(await listKeys(s3, bucket.name, `${prefix}out/`)).toEqual([]);
    },
  );
});
