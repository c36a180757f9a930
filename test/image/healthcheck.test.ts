import { afterEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { putLargeObject } from '../fixtures/stream-transform/harness.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { useTestBucket } from '../support/test-bucket.js';
import { containerEngine, engine, startImage, waitUntil } from './support/container-engine.js';
import { keysFromEnvironment, passByName } from './support/worker-run.js';

const MiB = 1024 * 1024;
const { s3 } = inject('servers');

/** S3WORKER_HEALTHCHECK_MAX_AGE in the container: well above the worker's 200 ms ticks. */
const MAX_AGE_MS = 3_000;
/**
 * One check as the engine runs it: an exec into the container that starts Node.js, on a loaded
 * test machine. A verdict is due within --max-age plus this.
 */
const CHECK_MS = 10_000;
/**
 * Parts of the object (5 MiB each), each acknowledged 1 s after it was sent: the upload outlasts
 * the healthy checks (--max-age and one check more) with parts to spare on a slow machine.
 */
const PARTS = 16;

interface Reading {
  healthy: boolean;
  /** The check's one line, as the engine recorded it. */
  line: string;
  startedAt: number;
}

/**
 * Runs the image's HEALTHCHECK now, as the engine does (`podman healthcheck run`); docker has no
 * such command, so there the same command is run with `exec`.
 */
async function check(name: string): Promise<Reading> {
  const startedAt = Date.now();
  const e = containerEngine();
  const r =
    e.name === 'podman'
      ? await engine(['healthcheck', 'run', name])
      : await engine(['exec', name, 's3worker', 'healthcheck']);
  expect([0, 1], r.stdout + r.stderr).toContain(r.code);
  // podman prints only the verdict word; the check's own line is in the engine's health log.
  const line =
    e.name === 'podman' ? ((await healthState(name)).Log.at(-1)?.Output ?? '') : r.stdout;
  return { healthy: r.code === 0, line: line.trim(), startedAt };
}

/** What podman's `inspect` shows of a container's health. */
interface HealthState {
  Status: string;
  Log: Array<{ ExitCode: number; Output: string }>;
}

/** The engine's health state of a container: status and the output of its last check. */
async function healthState(
  name: string,
): Promise<{ Status: string; Log: Array<{ Output: string }> }> {
  const r = await engine(['inspect', '--format', '{{json .State.Health}}', name]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as HealthState;
}

describe("the image's HEALTHCHECK, as the engine runs it", () => {
  const bucket = useTestBucket(s3, 'img-health');
  let proxy: FaultProxy | undefined;

  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  it('healthy while parts are acknowledged; unhealthy within S3WORKER_HEALTHCHECK_MAX_AGE once they stall', async () => {
    await putLargeObject(bucket.admin, bucket.name, 'in/long.log', PARTS * 5 * MiB, 11);
    proxy = await startFaultProxy(s3.endpoint);
    let phase: 'slow' | 'stall' = 'slow';
    let stalledAt: number | undefined;
    proxy.setRule((r) => {
      if (r.action !== 'UploadPart') return undefined;
      if (phase === 'slow') return { kind: 'delay', ms: 1000 };
      stalledAt ??= Date.now();
      return { kind: 'stall' };
    });
    const keys = keysFromEnvironment(s3);
    const env = { ...keys.env, S3WORKER_HEALTHCHECK_MAX_AGE: `${MAX_AGE_MS / 1000}s` };
    const container = startImage(
      'health',
      // The image's HEALTHCHECK as built (podman 4.3 ignores --health-* flags without its own
      // --health-cmd, so its 60 s start period stands: a failed check is recorded, and
      // `healthcheck run` says unhealthy, but the state stays as it was until the period ends).
      passByName(Object.keys(env)),
      [
        'run',
        'stream-transform',
        '--endpoint',
        proxy.endpoint,
        '--input',
        `s3://${bucket.name}/in/`,
        '--output',
        `s3://${bucket.name}/out/`,
        '--part-size',
        '5MiB',
        '--queue-size',
        '1',
        '--progress-interval',
        '200ms',
        '--drain-timeout',
        '2s',
      ],
      { env },
    );
    await waitUntil('the first part', () => (proxy!.counts.get('UploadPart') ?? 0) > 0, {
      timeoutMs: 90_000,
    });

    // Parts acknowledged one by one: every check healthy, for longer than --max-age.
    const since = Date.now();
    const readings: Reading[] = [];
    for (let i = 0; i < 50; i++) {
      const reading = await check(container.name);
      readings.push(reading);
      if (reading.startedAt - since > MAX_AGE_MS + 500) break;
    }
    expect(readings.filter((r) => !r.healthy).map((r) => r.line)).toEqual([]);
    expect(readings.at(-1)!.startedAt - since).toBeGreaterThan(MAX_AGE_MS);
    expect(readings.at(-1)!.line).toMatch(/^healthy: stream-transform run .* is running/);
    if (containerEngine().name === 'podman') {
      expect((await healthState(container.name)).Status).toBe('healthy');
    }
    // Still uploading: the checks saw a transfer at work, not a finished run.
    expect(proxy.counts.get('UploadPart') ?? 0).toBeLessThan(PARTS);
    expect(container.child.exitCode).toBeNull();

    phase = 'stall';
    await waitUntil('a stalled part', () => stalledAt !== undefined, { timeoutMs: 30_000 });
    const deadline = stalledAt! + MAX_AGE_MS + CHECK_MS;
    let last = await check(container.name);
    for (let i = 0; i < 50 && last.healthy && Date.now() < deadline; i++) {
      last = await check(container.name);
    }
    expect(last.healthy, last.line).toBe(false);
    expect(last.startedAt).toBeLessThanOrEqual(deadline);
    expect(last.line).toMatch(
      /^unhealthy: stream-transform run .* has made no progress for \d+s \(limit 3s\)$/,
    );
    if (containerEngine().name === 'podman') {
      expect((await healthState(container.name)).Log.at(-1)).toMatchObject({ ExitCode: 1 });
    }
    // Unhealthy while still running (the worker waits on its stalled part), not because it ended.
    expect(container.child.exitCode).toBeNull();

    const stop = await engine(['kill', '--signal', 'TERM', container.name]);
    expect(stop.code, stop.stderr).toBe(0);
    expect(await container.exited, container.output()).toBe(ExitCode.Interrupted);
  });
});
