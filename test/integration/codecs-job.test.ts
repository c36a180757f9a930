import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type CountingClient,
  countingClient,
  getBytes,
  putObjects,
  runJob,
  sha256,
} from '../fixtures/stream-transform/harness.js';
import { createTestBucket } from '../support/s3.js';

const MiB = 1024 * 1024;

/** Log-like text, different for each seed. */
function logText(bytes: number, seed: number): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = seed; size < bytes; i++) {
    const line = `2026-11-29T10:00:${String(i % 60).padStart(2, '0')}Z INFO seed=${seed} id=${(i * 7919) % 100_003} path=/api/items/${i % 977}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

/** Runs a command line tool on `input` (argument array, no shell); fails loudly when missing. */
function tool(cmd: string, args: string[], input: Buffer): Buffer {
  const result = spawnSync(cmd, args, { input, maxBuffer: 256 * MiB });
  if (result.error) throw new Error(`${cmd} is needed (scripts/test-services.sh installs it)`);
  if (result.status !== 0) throw new Error(`${cmd} exited with ${result.status}: ${result.stderr}`);
  return result.stdout;
}

// The codecs through the whole job: GET → stage → multipart PUT, checked by the C tools.
describe('stream-transform codecs against MinIO', { timeout: 300_000 }, () => {
  const servers = inject('servers');
  let s3: CountingClient;
  let bucket: { name: string; remove: () => Promise<void> };
  const parts = [logText(3 * MiB + 17, 1), logText(1, 2), logText(9 * MiB, 3)];
  const whole = Buffer.concat(parts);

  beforeAll(async () => {
    s3 = countingClient(servers.s3);
    bucket = await createTestBucket(s3.client, 'codecs');
  });

  afterAll(async () => {
    await bucket?.remove();
    s3?.client.destroy();
  });

  it('unzstd writes every frame of a multi-frame object, and gunzip every member', async () => {
    await putObjects(s3.client, bucket.name, [
      // The zstd tool on a pipe (unsized frames), appended: three frames in one object.
      {
        key: 'multi/in.log.zst',
        body: Buffer.concat(parts.map((p) => tool('zstd', ['-c', '-q', '-3'], p))),
      },
      // gzip and pigz members appended.
      {
        key: 'multi/in.log.gz',
        body: Buffer.concat([
          tool('gzip', ['-c', '-6'], parts[0]!),
          tool('pigz', ['-c', '-1'], parts[1]!),
          tool('pigz', ['-c', '-9', '-b', '128'], parts[2]!),
        ]),
      },
    ]);
    for (const [ext, transform] of [
      ['zst', 'unzstd'],
      ['gz', 'gunzip'],
    ] as const) {
      const { result } = await runJob(s3.client, {
        input: `s3://${bucket.name}/multi/in.log.${ext}`,
        output: `s3://${bucket.name}/multi-out-${ext}/`,
        transform: [transform],
      });
      expect(result.objects).toMatchObject({ listed: 1, done: 1, skipped: 0, failed: 0 });
      const out = await getBytes(s3.client, bucket.name, `multi-out-${ext}/in.log`);
      expect(out.length).toBe(whole.length);
      expect(sha256(out)).toBe(sha256(whole));
    }
  });

  it('zstd and gzip outputs on every core decode with the C tools, and back through the job', async () => {
    await putObjects(s3.client, bucket.name, [{ key: 'text/app.log', body: whole }]);
    for (const [codec, back, ext, decode] of [
      ['zstd', 'unzstd', 'zst', ['zstd', ['-dc', '-q']]],
      ['gzip', 'gunzip', 'gz', ['gzip', ['-dc']]],
    ] as const) {
      await runJob(s3.client, {
        input: `s3://${bucket.name}/text/`,
        output: `s3://${bucket.name}/packed-${ext}/`,
        transform: [codec],
        // Small blocks: a dozen blocks in flight and out of order through the 12 MiB.
        zstdBlockSize: '256KiB',
        gzipBlockSize: '256KiB',
        zstdLevel: 1,
        gzipLevel: 1,
      });
      const packed = await getBytes(s3.client, bucket.name, `packed-${ext}/app.log.${ext}`);
      expect(sha256(tool(decode[0], [...decode[1]], packed))).toBe(sha256(whole));

      const { result } = await runJob(s3.client, {
        input: `s3://${bucket.name}/packed-${ext}/`,
        output: `s3://${bucket.name}/unpacked-${ext}/`,
        transform: [back],
      });
      expect(result.objects).toMatchObject({ listed: 1, done: 1, skipped: 0, failed: 0 });
      expect(sha256(await getBytes(s3.client, bucket.name, `unpacked-${ext}/app.log`))).toBe(
        sha256(whole),
      );
    }
  });

  it('fails a zstd object cut short with CORRUPT_INPUT instead of writing a short output', async () => {
    const zst = tool('zstd', ['-c', '-q', '-1'], whole);
    await putObjects(s3.client, bucket.name, [
      { key: 'cut/short.log.zst', body: zst.subarray(0, zst.length - 1000) },
    ]);
    const { result, run } = await runJob(s3.client, {
      input: `s3://${bucket.name}/cut/`,
      output: `s3://${bucket.name}/cut-out/`,
      transform: ['unzstd'],
      uploadFailureReport: false,
    });
    expect(result.objects).toMatchObject({ listed: 1, done: 0, skipped: 0, failed: 1 });
    expect(JSON.stringify(run.logs)).toContain('CORRUPT_INPUT');
  });
});
