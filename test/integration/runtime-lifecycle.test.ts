import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { readStatus } from '../../src/runtime/status-file.js';
import { runCli, startCli, workerEnv } from '../support/run-cli.js';

const s3 = inject('servers').s3;
const HANDLER = 'test/fixtures/jobs/lifecycle-job.mjs';
let tmp: string;

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-lifecycle-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const env = () => workerEnv(s3, tmp);

function lifecycle(outcome: string, extra: string[] = []) {
  return startCli(['run', 'lifecycle', '--handler', HANDLER, '--outcome', outcome, ...extra], {
    env: env(),
  });
}

/** Starts a job with a long drain deadline and sends SIGTERM twice: the second must force. */
async function signalTwice(outcome: string) {
  const p = lifecycle(outcome, ['--drain-timeout', '10m']);
  await p.waitForLog('lifecycle job working');
  p.child.kill('SIGTERM');
  await p.waitForLog('stop requested: finishing in-flight work');
  p.child.kill('SIGTERM');
  return p.done;
}

const messages = (logs: Array<Record<string, unknown>>) => logs.map((l) => l.msg);

describe('exit codes', () => {
  it('a job that finishes every object exits 0 with a summary line', async () => {
    const r = await lifecycle('done').done;
    expect(r.code).toBe(ExitCode.Success);
    const summary = r.logs.find((l) => l.msg === 'summary');
    expect(summary).toMatchObject({
      job: 'lifecycle',
      objects: { done: 3, skipped: 0, failed: 0 },
      bytesIn: 10,
      bytesOut: 10,
      exitCode: 0,
    });
    expect(summary).toHaveProperty('durationMs');
    expect(summary).toHaveProperty('mbPerSecond');
    expect((await readStatus(tmp))?.state).toBe('done');
  });

  it('failed objects exit with ObjectsFailed', async () => {
    const r = await lifecycle('failed').done;
    expect(r.code).toBe(ExitCode.ObjectsFailed);
    expect(r.logs.find((l) => l.msg === 'summary')?.objects).toMatchObject({ failed: 1 });
    expect((await readStatus(tmp))?.state).toBe('failed');
  });

  it('an S3WorkerError exits with its own code, logged with its hint', async () => {
    const r = await lifecycle('access-denied').done;
    expect(r.code).toBe(ExitCode.AccessDenied);
    expect(r.logs.find((l) => l.level === 'error')).toMatchObject({
      msg: 'access denied to s3://nowhere/x',
      code: 'ACCESS_DENIED',
      hint: 'allow s3:GetObject on arn:aws:s3:::nowhere/*',
      exitCode: ExitCode.AccessDenied,
    });
  });

  it('anything else exits with Unexpected', async () => {
    const r = await lifecycle('crash').done;
    expect(r.code).toBe(ExitCode.Unexpected);
    const err = r.logs.find((l) => l.level === 'error');
    expect(err?.msg).toBe('run failed: unexpected error');
    expect(JSON.stringify(err)).toContain('something nobody planned for');
  });
});

describe('logs', () => {
  it('names the credential source, never the secret, on lines carrying runId and job', async () => {
    const r = await lifecycle('done').done;
    const creds = r.logs.find((l) => l.msg === 'aws credentials resolved');
    expect(creds).toMatchObject({
      credentialSource: 'env',
      endpoint: s3.endpoint,
      job: 'lifecycle',
    });
    expect(creds?.runId).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.stdout).not.toContain(s3.secretAccessKey);
    expect(r.stderr).not.toContain(s3.secretAccessKey);
  });
});

describe('SIGTERM and SIGINT', () => {
  it('drains: stop signal first, in-flight work finishes, exit Interrupted; status file follows the run', async () => {
    const p = lifecycle('until-stopped', ['--progress-interval', '100ms']);
    await p.waitForLog('lifecycle job working');
    // The status file is written in the background (it must never hold the job up), so it may
    // land just after the job's first log line.
    await expect.poll(() => readStatus(tmp), { timeout: 10_000 }).toBeDefined();
    const first = await readStatus(tmp);
    expect(first).toMatchObject({ job: 'lifecycle', state: 'running', pid: p.child.pid });
    const tick = await p.waitForLog('progress');
    expect(tick.objects).toHaveProperty('done');
    expect(tick).toHaveProperty('mbPerSecond');
    // A progress tick rewrites the status file.
    await expect
      .poll(async () => (await readStatus(tmp))?.updatedAt, { timeout: 10_000 })
      .not.toBe(first?.updatedAt);

    p.child.kill('SIGTERM');
    const r = await p.done;
    expect(r.code).toBe(ExitCode.Interrupted);
    const msgs = messages(r.logs);
    expect(msgs).toContain('stop requested: finishing in-flight work');
    expect(msgs).not.toContain('drain deadline passed: aborting');
    expect(r.logs.find((l) => l.msg === 'lifecycle job drained')).toMatchObject({
      stopSignal: true,
      signal: false,
    });
    expect(msgs.indexOf('stop requested: finishing in-flight work')).toBeLessThan(
      msgs.indexOf('summary'),
    );
    expect(r.logs.find((l) => l.msg === 'summary')).toMatchObject({
      interrupted: true,
      exitCode: 4,
    });
    const last = await readStatus(tmp);
    expect(last).toMatchObject({
      state: 'interrupted',
      exitCode: ExitCode.Interrupted,
      runId: first?.runId,
    });
    expect(last?.objectsDone).toBeGreaterThan(0);
    expect(last?.bytesOut).toBeGreaterThan(0);
  });

  it('SIGINT drains the same way', async () => {
    const p = lifecycle('until-stopped');
    await p.waitForLog('lifecycle job working');
    p.child.kill('SIGINT');
    const r = await p.done;
    expect(r.code).toBe(ExitCode.Interrupted);
    expect(r.logs.find((l) => l.msg === 'stop requested: finishing in-flight work')?.signal).toBe(
      'SIGINT',
    );
  });

  it('a job that ignores the stop signal has its abort signal fired at the drain deadline', async () => {
    const p = lifecycle('ignore-stop', ['--drain-timeout', '1s']);
    await p.waitForLog('lifecycle job working');
    p.child.kill('SIGTERM');
    const r = await p.done;
    expect(r.code).toBe(ExitCode.Interrupted);
    const msgs = messages(r.logs);
    expect(msgs.indexOf('stop requested: finishing in-flight work')).toBeLessThan(
      msgs.indexOf('drain deadline passed: aborting'),
    );
    expect(msgs.indexOf('drain deadline passed: aborting')).toBeLessThan(
      msgs.indexOf('lifecycle job aborted'),
    );
    expect(r.logs.find((l) => l.msg === 'drain deadline passed: aborting')?.drainTimeoutMs).toBe(
      1000,
    );
    expect(r.logs.find((l) => l.msg === 'lifecycle job aborted')?.signal).toBe(true);
  });

  it('a second signal aborts at once, without waiting for the drain deadline', async () => {
    const r = await signalTwice('ignore-stop');
    expect(r.code).toBe(ExitCode.Interrupted);
    const msgs = messages(r.logs);
    expect(msgs).toContain('second signal: aborting now');
    expect(msgs).not.toContain('drain deadline passed: aborting');
    expect(msgs).toContain('lifecycle job aborted');
    expect((await readStatus(tmp))?.state).toBe('interrupted');
  });
});

describe('the status file the health check reads', () => {
  it('keeps lastProgressAt still while the job ticks but moves nothing', async () => {
    const p = lifecycle('stall', ['--progress-interval', '100ms']);
    await p.waitForLog('lifecycle job working');
    await expect.poll(() => readStatus(tmp), { timeout: 10_000 }).toBeDefined();
    const first = await readStatus(tmp);
    await p.waitForLog('progress');
    await expect
      .poll(async () => (await readStatus(tmp))?.updatedAt, { timeout: 10_000 })
      .not.toBe(first?.updatedAt);
    const later = await readStatus(tmp);
    expect(later?.state).toBe('running');
    expect(later?.lastProgressAt).toBe(first?.lastProgressAt);
    p.child.kill('SIGTERM');
    expect((await p.done).code).toBe(ExitCode.Interrupted);
  });

  it('moves lastProgressAt when bytes or objects move', async () => {
    const p = lifecycle('until-stopped', ['--progress-interval', '100ms']);
    await p.waitForLog('lifecycle job working');
    await expect.poll(() => readStatus(tmp), { timeout: 10_000 }).toBeDefined();
    const first = await readStatus(tmp);
    await expect
      .poll(async () => (await readStatus(tmp))?.lastProgressAt, { timeout: 10_000 })
      .not.toBe(first?.lastProgressAt);
    p.child.kill('SIGTERM');
    expect((await p.done).code).toBe(ExitCode.Interrupted);
  });
});

describe('a job that ignores the abort too', () => {
  it('is left behind: the process exits with Interrupted after the grace period', async () => {
    const r = await signalTwice('hang');
    expect(r.code).toBe(ExitCode.Interrupted);
    expect(r.logs.find((l) => l.msg === 'job did not stop after abort: exiting')).toMatchObject({
      level: 'error',
      graceMs: 5000,
    });
    expect((await readStatus(tmp))?.state).toBe('interrupted');
  });
});

describe('the S3 connection pool', () => {
  it('is sized by the job: at most maxSockets() requests in flight at once', async () => {
    let inFlight = 0;
    let most = 0;
    let requests = 0;
    const server = createServer((_req, res) => {
      requests++;
      inFlight++;
      most = Math.max(most, inFlight);
      // Slow answers, so the job's 20 requests pile up on the pool (one request per socket).
      setTimeout(() => {
        inFlight--;
        res.writeHead(404).end();
      }, 150);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await startCli(
        [
          'run',
          'lifecycle',
          '--handler',
          HANDLER,
          '--outcome',
          'parallel-requests',
          '--max-attempts',
          '1',
        ],
        { env: { ...env(), S3WORKER_ENDPOINT: endpoint } },
      ).done;
      expect(r.code).toBe(ExitCode.Success);
      expect(requests).toBe(20);
      // The fixture's maxSockets() is 7 (the default would be 50).
      expect(most).toBe(7);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('a run that cannot start', () => {
  it('with no credentials anywhere, exits with NoCredentials and says so', async () => {
    const r = await runCli(
      ['run', 'lifecycle', '--handler', HANDLER, '--outcome', 'done', '--credentials', 'env'],
      { env: { S3WORKER_ENDPOINT: s3.endpoint, S3WORKER_TMPDIR: tmp, AWS_REGION: s3.region } },
    );
    expect(r.code).toBe(ExitCode.NoCredentials);
    expect(r.logs.find((l) => l.level === 'error')).toHaveProperty('hint');
    expect((await readStatus(tmp))?.state).toBe('failed');
  });
});
