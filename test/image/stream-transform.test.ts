import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { getBytes, listKeys, putObjects } from '../fixtures/stream-transform/harness.js';
import { runCli, workerEnv } from '../support/run-cli.js';
import { useTestBucket } from '../support/test-bucket.js';
import { runImage } from './support/container-engine.js';
import {
  gzipArgs,
  keysFromEnvironment,
  logLine,
  logLines,
  SMALL_PARTS,
} from './support/worker-run.js';

const MiB = 1024 * 1024;
const { s3 } = inject('servers');

describe('stream-transform in the image, keys passed with -e NAME', () => {
  const bucket = useTestBucket(s3, 'img-st');

  it('writes outputs byte-identical to a local run of the same CLI, a multipart one included', async () => {
    const inputs = [
      { key: 'raw/a.log', body: Buffer.from('first line\nsecond line\n'.repeat(200)) },
      { key: 'raw/empty.log', body: Buffer.alloc(0) },
      { key: 'raw/dir/with space ü.json', body: Buffer.from('{"a":1}\n'.repeat(5000)) },
      // Random bytes do not shrink: the gzip output is bigger than one 5 MiB part, so it goes
      // up as a multipart upload, and the download of the input is ranged (8 MiB threshold).
      { key: 'raw/big.bin', body: randomBytes(12 * MiB) },
    ];
    await putObjects(bucket.admin, bucket.name, inputs);
    const args = (output: string) =>
      gzipArgs(`s3://${bucket.name}/raw/`, `s3://${bucket.name}/${output}/`, SMALL_PARTS);

    const tmp = mkdtempSync(join(tmpdir(), 's3worker-image-local-'));
    let local: Awaited<ReturnType<typeof runCli>>;
    try {
      local = await runCli(args('local'), { env: workerEnv(s3, tmp) });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    expect(local.code, local.stdout + local.stderr).toBe(ExitCode.Success);

    const keys = keysFromEnvironment(s3);
    const image = await runImage(keys.flags, [...args('image'), '--endpoint', s3.endpoint], {
      env: keys.env,
    });
    expect(image.code, image.stdout + image.stderr).toBe(ExitCode.Success);
    expect(logLine(image.stdout, 'aws credentials resolved')).toMatchObject({
      credentialSource: 'env',
      endpoint: s3.endpoint,
    });
    expect(logLine(image.stdout, 'summary')).toMatchObject({
      objects: { done: inputs.length, skipped: 0, failed: 0 },
      exitCode: 0,
    });
    // Every line of the container's output is a JSON log line (no stray stderr), and none holds
    // a key.
    expect(image.stderr.trim()).toBe('');
    expect(logLines(image.stdout).length).toBe(image.stdout.trim().split('\n').length);
    expect(image.stdout).not.toContain(s3.secretAccessKey);
    expect(image.stdout).not.toContain(s3.accessKeyId);

    const made = (prefix: string) =>
      listKeys(bucket.admin, bucket.name, `${prefix}/`).then((all) =>
        all.map((k) => k.slice(prefix.length + 1)).sort(),
      );
    const expected = inputs.map((i) => `${i.key.slice('raw/'.length)}.gz`).sort();
    expect(await made('local')).toEqual(expected);
    expect(await made('image')).toEqual(expected);
    for (const input of inputs) {
      const rel = `${input.key.slice('raw/'.length)}.gz`;
      const fromImage = await getBytes(bucket.admin, bucket.name, `image/${rel}`);
      const fromLocal = await getBytes(bucket.admin, bucket.name, `local/${rel}`);
      expect(fromImage.equals(fromLocal), rel).toBe(true);
      expect(gunzipSync(fromImage).equals(input.body), rel).toBe(true);
    }
    const big = await bucket.admin.send(
      new HeadObjectCommand({ Bucket: bucket.name, Key: 'image/big.bin.gz' }),
    );
    // A multipart object's ETag ends in -<parts>.
    expect(big.ETag).toMatch(/-3"$/);
    expect(big.ContentType).toBe('application/gzip');
  });
});
