import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { getBytes, putObjects } from '../fixtures/stream-transform/harness.js';
import { useTestBucket } from '../support/test-bucket.js';
import { engine, startImage } from './support/container-engine.js';
import {
  gzipArgs,
  IMAGE_UID,
  keysFromEnvironment,
  logLine,
  readOnlyRoot,
  SCRATCH,
  SMALL_PARTS,
  scratchFolder,
} from './support/worker-run.js';

const MiB = 1024 * 1024;
const { s3 } = inject('servers');

/** What the engine says the container changed in its filesystem (`diff`), one line per path. */
async function changes(name: string): Promise<string[]> {
  const diff = await engine(['diff', name]);
  expect(diff.code, diff.stderr).toBe(0);
  return diff.stdout.split('\n').filter((l) => l.trim() !== '');
}

describe('the image on a read-only root filesystem', () => {
  const bucket = useTestBucket(s3, 'img-ro');
  const inputs = [
    { key: 'in/a.log', body: Buffer.from('read-only root\n'.repeat(2000)) },
    // Ranged download and a multipart upload: neither may need a temp file.
    { key: 'in/big.bin', body: randomBytes(12 * MiB) },
  ];

  /** stream-transform in a read-only container, to its end; returns its name and output. */
  async function readOnlyRun(tag: string, volume: string[], output: string) {
    await putObjects(bucket.admin, bucket.name, inputs);
    const keys = keysFromEnvironment(s3);
    const container = startImage(
      tag,
      [...readOnlyRoot(), ...volume, ...keys.flags],
      gzipArgs(`s3://${bucket.name}/in/`, `s3://${bucket.name}/${output}/`, [
        '--endpoint',
        s3.endpoint,
        ...SMALL_PARTS,
      ]),
      { env: keys.env },
    );
    const code = await container.exited;
    expect(code, container.output()).toBe(ExitCode.Success);
    expect(logLine(container.output(), 'summary')).toMatchObject({
      objects: { done: inputs.length, failed: 0 },
    });
    for (const input of inputs) {
      const out = await getBytes(bucket.admin, bucket.name, `${output}/${input.key.slice(3)}.gz`);
      expect(gunzipSync(out).equals(input.body), input.key).toBe(true);
    }
    return container;
  }

  it('with a scratch folder mounted: runs as uid 10001, writes only there', async () => {
    const scratch = scratchFolder();
    const container = await readOnlyRun('ro-bind', ['-v', `${scratch}:${SCRATCH}`], 'bind');
    // The status file is the worker's own write: in the volume, owned by the image's user.
    const statusPath = join(scratch, 's3worker-status.json');
    expect(statSync(statusPath).uid).toBe(IMAGE_UID);
    expect(JSON.parse(readFileSync(statusPath, 'utf8'))).toMatchObject({
      job: 'stream-transform',
      state: 'done',
      exitCode: 0,
      objectsDone: inputs.length,
    });
    for (const entry of readdirSync(scratch))
      expect(statSync(join(scratch, entry)).uid).toBe(IMAGE_UID);
    // Nothing outside the volume: the container's own layer is as the image left it.
    expect(await changes(container.name)).toEqual([]);
  });

  it("with the image's own VOLUME (no -v, as the docs' docker run example): writes nowhere else", async () => {
    const container = await readOnlyRun('ro-anon', [], 'anon');
    expect(await changes(container.name)).toEqual([]);
  });
});
