import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import {
  incompleteUploads,
  listKeys,
  putLargeObject,
  putObjects,
  sha256,
  sha256Of,
} from '../fixtures/stream-transform/harness.js';
import {
  createTaskRoleMinter,
  startEcsCredentialsEndpoint,
} from '../support/ecs-credentials-endpoint.js';
import { type FaultProxy, type FaultRule, startFaultProxy } from '../support/fault-proxy.js';
import { assumeRole, createUserWithPolicy, type Keys, mc } from '../support/minio-admin.js';
import { type CliResult, runCli, startCli, workerEnv } from '../support/run-cli.js';
import { adminClient } from '../support/s3.js';
import { useTestBucket } from '../support/test-bucket.js';

const MiB = 1024 * 1024;

/** Deterministic bytes that do not compress to nothing. */
function bytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeInt32LE(x | 0, Math.min(i, size - 4));
  }
  return out;
}

/** A rule that faults at most `times` requests that `match` picks, one in every `every`. */
function some(
  times: number,
  every: number,
  match: (r: Parameters<FaultRule>[0]) => boolean,
  fault: NonNullable<ReturnType<FaultRule>>,
): FaultRule {
  let seen = 0;
  let done = 0;
  return (r) => {
    if (!match(r)) return undefined;
    seen++;
    if (done >= times || seen % every !== 0) return undefined;
    done++;
    return fault;
  };
}

// Each case runs the CLI through the proxy, then checks the exit code, every output's SHA-256,
// that no multipart upload is left, and how many requests the proxy saw.
describe('fault suite: s3worker through a fault proxy in front of MinIO', {
  timeout: 300_000,
}, () => {
  const servers = inject('servers');
  const bucket = useTestBucket(servers.s3, 'faults');
  let proxy: FaultProxy;
  let tmp: string;
  const hashes = new Map<string, string>();

  beforeAll(async () => {
    proxy = await startFaultProxy(servers.s3.endpoint);
    tmp = mkdtempSync(join(tmpdir(), 's3worker-faults-'));
  });

  afterAll(async () => {
    await proxy?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** Puts objects under `prefix`; remembers their SHA-256. */
  async function inputs(prefix: string, sizes: number[]): Promise<void> {
    const objects = sizes.map((size, i) => ({
      key: `${prefix}/obj-${String(i).padStart(4, '0')}.bin`,
      body: bytes(size, i + 1),
    }));
    await putObjects(bucket.admin, bucket.name, objects);
    for (const o of objects) hashes.set(o.key, sha256(o.body));
  }

  /** The CLI arguments of stream-transform from `input` to `output`. */
  function cliArgs(input: string, output: string, extra: string[] = []): string[] {
    return [
      'run',
      'stream-transform',
      '--input',
      `s3://${bucket.name}/${input}/`,
      '--output',
      `s3://${bucket.name}/${output}/`,
      '--part-size',
      '5MiB',
      ...extra,
    ];
  }

  /** The root keys, and the proxy as the S3 endpoint. */
  function cliEnv(): Record<string, string> {
    return workerEnv(servers.s3, tmp, { S3WORKER_ENDPOINT: proxy.endpoint });
  }

  /** Runs stream-transform from `input` to `output` through the proxy. */
  function run(input: string, output: string, extra: string[] = []) {
    return runCli(cliArgs(input, output, extra), { env: cliEnv() });
  }

  /** Exit 0, every output byte-identical to its input, no multipart upload left. */
  async function expectComplete(r: CliResult, input: string, output: string): Promise<void> {
    const summary = r.logs.find((l) => l.msg === 'summary');
    expect({ code: r.code, summary }, r.stdout.slice(-3000)).toMatchObject({
      code: ExitCode.Success,
    });
    // Every listed input is accounted for in the summary.
    const objects = summary?.objects as {
      listed: number;
      done: number;
      skipped: number;
      failed: number;
    };
    expect(objects.done + objects.skipped + objects.failed).toBe(objects.listed);
    expect(objects.failed).toBe(0);
    const sources = [...hashes.keys()].filter((k) => k.startsWith(`${input}/`));
    const outputs = await listKeys(bucket.admin, bucket.name, `${output}/`);
    expect(outputs.length).toBe(sources.length);
    for (const key of sources) {
      const out = key.replace(`${input}/`, `${output}/`);
      expect(await sha256Of(bucket.admin, bucket.name, out), out).toBe(hashes.get(key));
    }
    expect(await incompleteUploads(bucket.admin, bucket.name)).toBe(0);
  }

  /** One line per case in the test output: requests seen against the fault-free run. */
  function note(name: string, baselineRequests: number | undefined): void {
    const faults = [...proxy.faults].map(([k, v]) => `${k} ${v}`).join(', ');
    console.error(
      `[faults] ${name}: ${proxy.total} requests${baselineRequests === undefined ? '' : ` (fault-free ${baselineRequests}, ${(proxy.total / baselineRequests).toFixed(2)}x)`}; faults: ${faults}`,
    );
  }

  /** Requests of a fault-free run of the same job (to another output prefix). */
  async function baseline(input: string, extra: string[] = []): Promise<number> {
    proxy.setRule(undefined);
    proxy.resetCounts();
    const r = await run(input, `${input}-baseline`, extra);
    expect(r.code).toBe(ExitCode.Success);
    return proxy.total;
  }

  it('connection resets mid-body on GET and on UploadPart, several times in one run', async () => {
    await inputs('reset', [300_000, 300_000, 12 * MiB, 300_000, 12 * MiB, 300_000, 11 * MiB]);
    const fault_free = await baseline('reset');
    proxy.resetCounts();
    const getResets = some(3, 2, (r) => r.action === 'GetObject', {
      kind: 'reset-response',
      afterBytes: 100_000,
    });
    const partResets = some(3, 2, (r) => r.action === 'UploadPart', {
      kind: 'reset-request',
      afterBytes: 1 * MiB,
    });
    proxy.setRule((r) => getResets(r) ?? partResets(r));
    const r = await run('reset', 'reset-out');
    expect(proxy.faults.get('reset-response')).toBe(3);
    expect(proxy.faults.get('reset-request')).toBe(3);
    note('resets', fault_free);
    await expectComplete(r, 'reset', 'reset-out');
    // Each reset costs one more request (a resumed GET, a resent part), plus slack for a
    // keep-alive socket the reset also took down.
    expect(proxy.total).toBeLessThanOrEqual(fault_free + 6 * 2);
  });

  it('a stalled connection (no bytes flow) is dropped after the socket timeout and retried', async () => {
    await inputs('stall', [200_000, 200_000, 11 * MiB, 200_000, 11 * MiB]);
    const fault_free = await baseline('stall', ['--socket-timeout', '2s']);
    proxy.resetCounts();
    const getStalls = some(2, 2, (r) => r.action === 'GetObject', {
      kind: 'stall-response',
      afterBytes: 50_000,
    });
    const partStalls = some(2, 2, (r) => r.action === 'UploadPart', { kind: 'stall' });
    proxy.setRule((r) => getStalls(r) ?? partStalls(r));
    const r = await run('stall', 'stall-out', ['--socket-timeout', '2s']);
    expect(proxy.faults.get('stall-response')).toBe(2);
    expect(proxy.faults.get('stall')).toBe(2);
    note('stalls', fault_free);
    await expectComplete(r, 'stall', 'stall-out');
    expect(proxy.total).toBeLessThanOrEqual(fault_free + 4 * 2);
  });

  it('a truncated response body is resumed from the last byte received', async () => {
    await inputs('cut', [400_000, 400_000, 12 * MiB, 400_000]);
    const fault_free = await baseline('cut');
    proxy.resetCounts();
    proxy.setRule(
      some(3, 1, (r) => r.action === 'GetObject' && !r.headers.range, {
        kind: 'truncate',
        keepBytes: 150_000,
      }),
    );
    const r = await run('cut', 'cut-out');
    expect(proxy.faults.get('truncate')).toBe(3);
    note('cut bodies', fault_free);
    await expectComplete(r, 'cut', 'cut-out');
    const retried = r.logs.filter(
      (l) =>
        l.msg === 'object read cut off; resuming' || l.msg === 'transient s3 failure; retrying',
    );
    expect(retried.length).toBeGreaterThanOrEqual(3);
    expect(proxy.total).toBeLessThanOrEqual(fault_free + 3 * 2);
  });

  it('503 SlowDown on 30% of requests: 2,000 objects and a 300 MiB multipart copy succeed within 1.5x the requests', async () => {
    await inputs(
      'slow',
      Array.from({ length: 2000 }, (_, i) => 200 + (i % 50)),
    );
    const big = await putLargeObject(bucket.admin, bucket.name, 'slow/zz-large.bin', 300 * MiB, 7);
    hashes.set('slow/zz-large.bin', big);
    // Many objects at once: each 503 waits its backoff, and the run should not wait for them in turn.
    const args = ['--concurrency', '200'];
    const fault_free = await baseline('slow', args);
    proxy.resetCounts();
    // A fixed 30% of requests by a hash of their number: the same share on every run.
    proxy.setRule((r) =>
      ((r.n * 2654435761) >>> 0) % 100 < 30
        ? { kind: 'status', status: 503, code: 'SlowDown' }
        : undefined,
    );
    const r = await run('slow', 'slow-out', args);
    note('503 on 30%', fault_free);
    await expectComplete(r, 'slow', 'slow-out');
    const slowDowns = proxy.faults.get('status') ?? 0;
    expect(slowDowns).toBeGreaterThan(0.25 * proxy.total);
    // Every 503 costs exactly one more request: 1 / (1 - 0.3) = 1.43x on average.
    expect(proxy.total).toBeLessThanOrEqual(1.5 * fault_free);
  });

  it('listings and HEADs answer 503 SlowDown 4 times in a row (more than the SDK tries): the run and its re-run complete', async () => {
    await inputs(
      'lists',
      Array.from({ length: 12 }, (_, i) => 1000 + i),
    );
    const fault_free = await baseline('lists');
    proxy.resetCounts();
    // Each of these requests fails 4 times in a row before one gets through: past the SDK's
    // 3 attempts, so only the run's own retry window carries them.
    const streak = new Map<string, number>();
    const failing = new Set(['ListObjectsV2', 'ListMultipartUploads', 'HeadObject']);
    proxy.setRule((r) => {
      if (!failing.has(r.action)) return undefined;
      const n = streak.get(r.action) ?? 0;
      if (n >= 4) {
        streak.set(r.action, 0);
        return undefined;
      }
      streak.set(r.action, n + 1);
      return { kind: 'status', status: 503, code: 'SlowDown' };
    });
    const first = await run('lists', 'lists-out');
    await expectComplete(first, 'lists', 'lists-out');
    // The re-run finds every output there: one HEAD per object decides it is current.
    const again = await run('lists', 'lists-out');
    note('503 x4 on lists and HEADs', fault_free);
    await expectComplete(again, 'lists', 'lists-out');
    const summary = again.logs.find((l) => l.msg === 'summary');
    expect(summary?.objects).toMatchObject({ listed: 12, skipped: 12 });
    expect(proxy.counts.get('HeadObject') ?? 0).toBeGreaterThanOrEqual(12 * 5);
    for (const r of [first, again]) {
      expect(
        r.logs.filter((l) => l.msg === 'could not sweep incomplete uploads; continuing'),
      ).toEqual([]);
      const retried = new Set(
        r.logs.filter((l) => l.msg === 'transient s3 failure; retrying').map((l) => l.action),
      );
      expect(retried.has('ListObjectsV2')).toBe(true);
      expect(retried.has('ListMultipartUploads')).toBe(true);
    }
  });

  it('the endpoint refusing connections for 10 s during a multipart upload: the job completes', async () => {
    await inputs('down', [40 * MiB, 300_000]);
    const fault_free = await baseline('down');
    proxy.resetCounts();
    // Slow parts so that the outage lands in the middle of the upload.
    proxy.setRule((r) => (r.action === 'UploadPart' ? { kind: 'delay', ms: 300 } : undefined));
    const job = startCli(cliArgs('down', 'down-out'), { env: cliEnv() });
    while ((proxy.counts.get('UploadPart') ?? 0) < 2) await sleep(20);
    // Not the shared MinIO: the proxy in front of it goes away (every connection reset, the
    // port refusing) and comes back 10 s later, as a restarted server would.
    await proxy.down(10_000);
    const r = await job.done;
    note('down 10 s', fault_free);
    await expectComplete(r, 'down', 'down-out');
    expect(r.logs.some((l) => l.msg === 'transient s3 failure; retrying')).toBe(true);
    // Each request cut by the outage is retried a handful of times within the retry window.
    expect(proxy.total).toBeLessThanOrEqual(fault_free + 80);
  });

  it('the credentials endpoint failing for 30 s while the cached credentials are valid: the job completes', async () => {
    await inputs(
      'creds',
      Array.from({ length: 150 }, () => 1000),
    );
    const minter = await createTaskRoleMinter(servers.s3, {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['s3:*'], Resource: ['arn:aws:s3:::*'] }],
    });
    // Expiry reported just past the SDK's 5-minute refresh window: refreshing starts at once,
    // while the credentials stay valid for minutes (MinIO's sessions last 15).
    const endpoint = await startEcsCredentialsEndpoint({
      mint: minter.mint,
      reportedLifetimeMs: 5 * 60_000 + 2_000,
    });
    try {
      // Paced so the run outlasts the outage: 150 objects one at a time, each GET 250 ms late.
      proxy.resetCounts();
      proxy.setRule((r) => (r.action === 'GetObject' ? { kind: 'delay', ms: 250 } : undefined));
      const env = {
        AWS_REGION: servers.s3.region,
        S3WORKER_ENDPOINT: proxy.endpoint,
        S3WORKER_TMPDIR: tmp,
        AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.url,
      };
      const job = startCli(cliArgs('creds', 'creds-out', ['--concurrency', '1']), { env });
      await job.waitForLog('aws credentials resolved');
      const outageStart = Date.now();
      endpoint.failAlways(500);
      await sleep(15_000);
      endpoint.failAlways(undefined);
      endpoint.failNext(Array.from({ length: 1000 }, () => 'hang' as const));
      await sleep(15_000);
      endpoint.failNext([]);
      const r = await job.done;
      note('credentials endpoint down 30 s', undefined);
      await expectComplete(r, 'creds', 'creds-out');
      // S3 itself was healthy: a GET and a PUT per object, plus the listings.
      expect(proxy.total).toBeLessThanOrEqual(2 * 150 + 10);
      const during = endpoint.log.filter((e) => e.at.getTime() >= outageStart);
      expect(during.some((e) => e.status === 500)).toBe(true);
      expect(during.some((e) => e.status === 0)).toBe(true);
      // The job outlived the outage and picked up fresh credentials afterwards.
      expect(during.at(-1)?.status).toBe(200);
      expect(
        r.logs.some(
          (l) =>
            l.msg === 'credential refresh failed; using the cached credentials until they expire',
        ),
      ).toBe(true);
    } finally {
      await endpoint.close();
      await minter.remove();
    }
  });

  it('credentials rotated and the old ones revoked during a multipart upload: MinIO accepts each new key', async () => {
    await inputs('rot', [70 * MiB]);
    const allowAll = {
      Version: '2012-10-17' as const,
      Statement: [{ Effect: 'Allow', Action: ['s3:*'], Resource: ['arn:aws:s3:::*'] }],
    };
    // One MinIO user per credential set, made up front (minting must answer within the
    // endpoint's timeout): revoking a set is disabling its user.
    const users = await Promise.all(
      Array.from({ length: 8 }, () => createUserWithPolicy(servers.s3, allowAll, 'rot')),
    );
    const minted: Array<{ accessKeyId: string; user: string; creds: Keys }> = [];
    const revoked: string[] = [];
    const pending: Array<Promise<unknown>> = [];
    const endpoint = await startEcsCredentialsEndpoint({
      // Stale for the SDK 2 s after each fetch, valid on MinIO for 15 minutes.
      reportedLifetimeMs: 5 * 60_000 + 2_000,
      mint: async () => {
        const user = users[Math.min(minted.length, users.length - 1)]!;
        const creds = await assumeRole(servers.s3, user, { policy: allowAll });
        const previous = minted.at(-1);
        minted.push({ accessKeyId: creds.accessKeyId, user: user.name, creds });
        if (previous && previous.user !== user.name) {
          // Once the client has moved on, the set it held is revoked on the server.
          pending.push(
            sleep(1_000).then(async () => {
              await mc(servers.s3, ['admin', 'user', 'disable', '@', previous.user]);
              revoked.push(previous.accessKeyId);
            }),
          );
        }
        return creds;
      },
    });
    try {
      proxy.resetCounts();
      // One part at a time, each 400 ms late: the upload spans several rotations.
      proxy.setRule((r) => (r.action === 'UploadPart' ? { kind: 'delay', ms: 400 } : undefined));
      const env = {
        AWS_REGION: servers.s3.region,
        S3WORKER_ENDPOINT: proxy.endpoint,
        S3WORKER_TMPDIR: tmp,
        AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.url,
      };
      const r = await runCli(cliArgs('rot', 'rot-out', ['--queue-size', '1']), { env });
      await Promise.all(pending);
      note('rotation', undefined);
      await expectComplete(r, 'rot', 'rot-out');
      // The server's answers, as the proxy in front of it saw them: every part accepted, and
      // signed with at least three different keys, each one handed out by the endpoint.
      const parts = proxy.answers.filter((a) => a.action === 'UploadPart');
      const accepted = parts.filter((a) => a.status === 200);
      const keys = new Set(accepted.map((a) => a.accessKeyId));
      const handedOut = new Set(minted.map((m) => m.accessKeyId));
      expect(keys.size).toBeGreaterThanOrEqual(3);
      for (const key of keys) expect(handedOut.has(key ?? '')).toBe(true);
      // A refresh was needed: the earlier sets were revoked during the upload, and MinIO
      // refuses them now.
      expect(revoked.length).toBeGreaterThanOrEqual(2);
      const rejected = parts.filter((a) => a.status !== 200);
      for (const a of rejected) expect(revoked).toContain(a.accessKeyId);
      // 14 parts of 5 MiB, and one more for each part refused with a revoked key.
      expect(parts.length).toBeLessThanOrEqual(14 + rejected.length);
      const first = minted[0]!;
      expect(revoked).toContain(first.accessKeyId);
      const old = adminClient(servers.s3, { credentials: first.creds, maxAttempts: 1 });
      try {
        await expect(old.send(new HeadBucketCommand({ Bucket: bucket.name }))).rejects.toThrow();
      } finally {
        old.destroy();
      }
    } finally {
      await Promise.allSettled(pending);
      await endpoint.close();
      for (const user of users) await user.remove();
    }
  });
});
