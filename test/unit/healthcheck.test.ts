import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { registerHealthcheckCommand } from '../../src/cli/commands/healthcheck.js';
import { checkHealth } from '../../src/runtime/healthcheck.js';
import { type RunStatus, statusFilePath, writeStatus } from '../../src/runtime/status-file.js';

const NOW = Date.parse('2026-11-27T12:00:00Z');
const alive = () => true;

function status(over: Partial<RunStatus> = {}): RunStatus {
  return {
    pid: 4242,
    job: 'stream-transform',
    runId: 'r1',
    state: 'running',
    startedAt: '2026-11-27T11:00:00Z',
    updatedAt: '2026-11-27T11:59:50Z',
    lastProgressAt: '2026-11-27T11:59:50Z',
    objectsDone: 12,
    bytesOut: 3456,
    ...over,
  };
}

describe('checkHealth', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 's3worker-health-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is healthy while the last progress tick is within the window', async () => {
    await writeStatus(dir, status());
    const v = await checkHealth({ dir, now: NOW, isAlive: alive });
    expect(v).toEqual({
      healthy: true,
      reason:
        'stream-transform run r1 (pid 4242) is running: 12 objects, 3456 bytes out, last progress 10s ago',
    });
  });

  it('is unhealthy once no progress came for longer than max-age', async () => {
    await writeStatus(dir, status({ lastProgressAt: '2026-11-27T11:54:00Z' }));
    const v = await checkHealth({ dir, now: NOW, isAlive: alive, maxAgeMs: 5 * 60_000 });
    expect(v.healthy).toBe(false);
    expect(v.reason).toContain('no progress for 6m (limit 5m)');
    expect(
      (await checkHealth({ dir, now: NOW, isAlive: alive, maxAgeMs: 7 * 60_000 })).healthy,
    ).toBe(true);
  });

  it('counts done as healthy, failed and interrupted as not', async () => {
    await writeStatus(dir, status({ state: 'done', lastProgressAt: '2026-01-01T00:00:00Z' }));
    expect((await checkHealth({ dir, now: NOW, isAlive: () => false })).healthy).toBe(true);
    for (const state of ['failed', 'interrupted'] as const) {
      await writeStatus(dir, status({ state }));
      const v = await checkHealth({ dir, now: NOW, isAlive: alive });
      expect(v).toEqual({
        healthy: false,
        reason: `stream-transform run r1 (pid 4242) ended: ${state}`,
      });
    }
  });

  it('is unhealthy when the status says running but the process is gone', async () => {
    await writeStatus(dir, status());
    const v = await checkHealth({ dir, now: NOW, isAlive: () => false });
    expect(v.reason).toContain('its process is gone');
  });

  it('is unhealthy without a status file, and says where it looked', async () => {
    const v = await checkHealth({ dir, now: NOW, isAlive: alive });
    expect(v.healthy).toBe(false);
    expect(v.reason).toContain(statusFilePath(dir));
  });

  it('is unhealthy on a status file it cannot parse', async () => {
    await writeFile(statusFilePath(dir), '{"state":');
    expect((await checkHealth({ dir, now: NOW, isAlive: alive })).healthy).toBe(false);
  });

  it('treats a tick from the future (clock stepped back) as fresh', async () => {
    await writeStatus(dir, status({ lastProgressAt: '2026-11-27T12:03:00Z' }));
    expect((await checkHealth({ dir, now: NOW, isAlive: alive })).healthy).toBe(true);
  });
});

describe('s3worker healthcheck', () => {
  let dir: string;
  const envBefore = { ...process.env };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 's3worker-health-cli-'));
    process.exitCode = undefined;
  });
  afterEach(async () => {
    process.env = { ...envBefore };
    process.exitCode = undefined;
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  async function run(args: string[]): Promise<{ code: number; out: string }> {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    const program = new Command().exitOverride();
    registerHealthcheckCommand(program);
    await program.parseAsync(['node', 's3worker', 'healthcheck', ...args]);
    vi.restoreAllMocks();
    return { code: Number(process.exitCode ?? 0), out: lines.join('') };
  }

  it('exits 0 for this live process with a fresh tick, reading S3WORKER_TMPDIR', async () => {
    process.env.S3WORKER_TMPDIR = dir;
    await writeStatus(dir, status({ pid: process.pid, lastProgressAt: new Date().toISOString() }));
    const r = await run([]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^healthy: stream-transform run r1/);
  });

  it('exits 1 when the tick is older than S3WORKER_HEALTHCHECK_MAX_AGE', async () => {
    process.env.S3WORKER_HEALTHCHECK_MAX_AGE = '1m';
    const old = new Date(Date.now() - 2 * 60_000).toISOString();
    await writeStatus(dir, status({ pid: process.pid, lastProgressAt: old }));
    const r = await run(['--tmp-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^unhealthy: .*limit 1m/);
  });

  it('lets --max-age beat the environment, and exits 1 (not 2) on a bad value', async () => {
    process.env.S3WORKER_HEALTHCHECK_MAX_AGE = '1m';
    const old = new Date(Date.now() - 2 * 60_000).toISOString();
    await writeStatus(dir, status({ pid: process.pid, lastProgressAt: old }));
    expect((await run(['--tmp-dir', dir, '--max-age', '10m'])).code).toBe(0);
    const bad = await run(['--tmp-dir', dir, '--max-age', 'soon']);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('not a duration');
  });
});
