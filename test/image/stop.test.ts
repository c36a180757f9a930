import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { getBytes, listKeys, putObjects } from '../fixtures/stream-transform/harness.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { useTestBucket } from '../support/test-bucket.js';
import {
  engine,
  type StartedContainer,
  startImage,
  waitUntil,
} from './support/container-engine.js';
import {
  gzipArgs,
  keysFromEnvironment,
  logLines,
  SMALL_PARTS,
  summaryOf,
} from './support/worker-run.js';

const MiB = 1024 * 1024;
const { s3 } = inject('servers');
/** More objects than the run's concurrency (2): some are in flight, the rest not yet started. */
const OBJECTS = 8;

describe('stopping the container (SIGTERM through tini)', () => {
  const bucket = useTestBucket(s3, 'img-stop');
  const inputs = Array.from({ length: OBJECTS }, (_, i) => ({
    key: `in/${String(i).padStart(2, '0')}.bin`,
    // Random bytes do not shrink: three 5 MiB parts per output, a multipart upload each.
    body: randomBytes(11 * MiB),
  }));
  let proxy: FaultProxy | undefined;
  let uploaded = false;

  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  /**
   * stream-transform of the inputs into `output`, two objects at a time, every part held
   * `partDelayMs` by a proxy in front of MinIO; returns once a multipart upload is in flight.
   */
  async function slowRun(tag: string, output: string, partDelayMs: number, extra: string[] = []) {
    if (!uploaded) {
      await putObjects(bucket.admin, bucket.name, inputs, 4);
      uploaded = true;
    }
    proxy = await startFaultProxy(s3.endpoint);
    proxy.setRule((r) =>
      r.action === 'UploadPart' ? { kind: 'delay', ms: partDelayMs } : undefined,
    );
    const keys = keysFromEnvironment(s3);
    const container = startImage(
      tag,
      keys.flags,
      gzipArgs(`s3://${bucket.name}/in/`, `s3://${bucket.name}/${output}/`, [
        '--endpoint',
        proxy.endpoint,
        '--concurrency',
        '2',
        '--queue-size',
        '1',
        ...SMALL_PARTS,
        ...extra,
      ]),
      { env: keys.env },
    );
    await waitUntil(
      'a multipart upload in flight',
      async () => container.child.exitCode !== null || (await uploadsUnder(`${output}/`)) > 0,
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    expect(container.child.exitCode, container.output()).toBeNull();
    return container;
  }

  /** The outputs written are whole: each gunzips to its input. Returns how many there are. */
  async function wholeOutputs(output: string): Promise<number> {
    const keys = await listKeys(bucket.admin, bucket.name, `${output}/`);
    for (const key of keys) {
      const input = inputs.find((i) => `${output}/${i.key.slice(3)}.gz` === key);
      expect(input, key).toBeDefined();
      expect(gunzipSync(await getBytes(bucket.admin, bucket.name, key)).equals(input!.body)).toBe(
        true,
      );
    }
    return keys.length;
  }

  /** Multipart uploads in flight (or left) under `prefix`. */
  async function uploadsUnder(prefix: string): Promise<number> {
    // MinIO lists a bucket's uploads, but under a prefix only those of the key it names.
    const r = await bucket.admin.send(new ListMultipartUploadsCommand({ Bucket: bucket.name }));
    expect(r.IsTruncated).toBeFalsy();
    return (r.Uploads ?? []).filter((u) => u.Key?.startsWith(prefix)).length;
  }

  async function kill(container: StartedContainer): Promise<void> {
    const r = await engine(['kill', '--signal', 'TERM', container.name]);
    expect(r.code, r.stderr).toBe(0);
  }

  it('`stop`: in-flight objects drain and finish, unstarted ones are left, exit 4, no multipart upload left', async () => {
    const container = await slowRun('stop', 'drained', 1000);
    // `docker stop` with the time the drain needs (the task's stopTimeout): SIGTERM, then SIGKILL
    // only after 60 s.
    const stop = await engine(['stop', '--time', '60', container.name], { timeoutMs: 90_000 });
    expect(stop.code, stop.stderr).toBe(0);
    const code = await container.exited;
    const output = container.output();
    expect(code, output).toBe(ExitCode.Interrupted);
    const messages = logLines(output).map((l) => l.msg);
    expect(messages).toContain('stop requested: finishing in-flight work');
    expect(messages).not.toContain('drain deadline passed: aborting');
    const summary = summaryOf(output);
    expect(summary).toMatchObject({ interrupted: true, exitCode: ExitCode.Interrupted });
    const { done, failed } = summary.objects;
    // What was in flight finished; what had not started was left for the next run.
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(OBJECTS);
    expect(failed).toBe(0);
    expect(await wholeOutputs('drained')).toBe(done);
    expect(await uploadsUnder('drained/')).toBe(0);
  });

  it('a second SIGTERM during the drain aborts at once: exit 4, the uploads aborted, no partial output', async () => {
    // A drain that would last: each part held 3 s, a 10-minute drain deadline.
    const container = await slowRun('stop-twice', 'aborted', 3000, ['--drain-timeout', '10m']);
    await kill(container);
    await waitUntil(
      'the drain to start',
      () => container.output().includes('"msg":"stop requested: finishing in-flight work"'),
      { timeoutMs: 30_000 },
    );
    await kill(container);
    const code = await container.exited;
    const output = container.output();
    expect(code, output).toBe(ExitCode.Interrupted);
    const messages = logLines(output).map((l) => l.msg);
    expect(messages).toContain('second signal: aborting now');
    expect(messages).not.toContain('drain deadline passed: aborting');
    const summary = summaryOf(output);
    expect(summary.exitCode).toBe(ExitCode.Interrupted);
    const { done } = summary.objects;
    expect(await wholeOutputs('aborted')).toBe(done);
    expect(done).toBeLessThan(OBJECTS);
    expect(await uploadsUnder('aborted/')).toBe(0);
  });
});
