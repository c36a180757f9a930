/**
 * A job of one's own on ctx.transfer (examples/command-upload, under 80 lines), loaded with
 * --handler through the built CLI: a command's output of unknown length goes up byte for byte,
 * within the byte budget; a failing command leaves no object and no multipart upload.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { incompleteUploads, listKeys, sha256Of } from '../fixtures/stream-transform/harness.js';
import { ROOT, runCli, workerEnv } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';

const MiB = 1024 * 1024;
const HANDLER = join(ROOT, 'examples/command-upload/command-upload-job.mjs');
const server = inject('servers').s3;
const s3 = adminClient(server);
let bucket: { name: string; remove: () => Promise<void> };
let tmp: string;

beforeAll(async () => {
  bucket = await createTestBucket(s3, 'cmd-upload');
  tmp = mkdtempSync(join(tmpdir(), 's3worker-cmd-'));
});
afterAll(async () => {
  await bucket?.remove();
  rmSync(tmp, { recursive: true, force: true });
  s3.destroy();
});

describe('a job of one’s own on ctx.transfer, loaded with --handler', () => {
  it('uploads a command’s output of unknown length byte for byte, within the byte budget', async () => {
    const file = join(tmp, 'data.bin');
    writeFileSync(file, randomBytes(27 * MiB + 123));
    const sent = createHash('sha256').update(readFileSync(file)).digest('hex');
    const result = await runCli(
      [
        'run',
        'command-upload',
        '--handler',
        HANDLER,
        '--output',
        `s3://${bucket.name}/dumps/data.bin`,
        '--command',
        'cat',
        '--command',
        file,
        '--part-size',
        '5MiB',
        '--queue-size',
        '2',
        '--max-buffered-bytes',
        '15MiB',
      ],
      { env: workerEnv(server, tmp) },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(await sha256Of(s3, bucket.name, 'dumps/data.bin')).toBe(sent);
    const done = result.logs.find((l) => l.msg === 'command output uploaded');
    expect(done?.parts).toBe(6);
    expect(done?.bytes).toBe(27 * MiB + 123);
    expect(done?.budgetHighWaterMark).toBeGreaterThan(0);
    expect(done?.budgetHighWaterMark as number).toBeLessThanOrEqual(15 * MiB);
  });

  it('leaves no object and no multipart upload when the command fails after writing parts', async () => {
    const result = await runCli(
      [
        'run',
        'command-upload',
        '--handler',
        HANDLER,
        '--output',
        `s3://${bucket.name}/failed/out.bin`,
        '--command',
        process.execPath,
        // A value that starts with a dash goes after `=`.
        '--command=-e',
        '--command',
        'process.stdout.write(Buffer.alloc(12 * 1024 * 1024), () => process.exit(3))',
        '--part-size',
        '5MiB',
      ],
      { env: workerEnv(server, tmp) },
    );
    expect(result.code).not.toBe(0);
    expect(result.stdout).toContain('COMMAND_FAILED');
    expect(await listKeys(s3, bucket.name, 'failed/')).toEqual([]);
    expect(await incompleteUploads(s3, bucket.name)).toBe(0);
  });
});
