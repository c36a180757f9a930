import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import {
  expectedLines,
  LogWriter,
  linesUploaded,
  missingLines,
  numberedLine,
  repeatedLines,
  shippedLines,
  watchLogs,
} from '../fixtures/ship-logs/harness.js';
import { type CliProcess, startCli, workerEnv } from '../support/run-cli.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { useTestBucket } from '../support/test-bucket.js';

/** How long S3 stays unreachable in the outage test. */
const OUTAGE_MS = 30_000;

const server = inject('servers').s3;
const bucket = useTestBucket(server, 'ship-logs-faults');
let tmp: string;
let logs: string;

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-ship-logs-faults-'));
  logs = join(tmp, 'logs');
  mkdirSync(logs);
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const MAX_BATCH_BYTES = 256 * 1024;
/** Bytes of one numbered line with its newline. */
const LINE_BYTES = numberedLine('a', 1).length + 1;

/** The shipper on `logs/*.log*` → `s3://bucket/<prefix>`, through `proxy`, with a spool in tmp. */
function startShipper(prefix: string, proxy: TcpProxy, extra: string[] = []): CliProcess {
  return startCli(
    [
      'run',
      'ship-logs',
      '--path',
      join(logs, '*.log*'),
      '--output',
      `s3://${bucket.name}/${prefix}`,
      '--start-at',
      'beginning',
      '--max-batch-bytes',
      String(MAX_BATCH_BYTES),
      '--max-batch-age',
      '500ms',
      '--compression-level',
      '1',
      '--poll-interval',
      '100ms',
      '--spool-dir',
      join(tmp, 'spool'),
      ...extra,
    ],
    { env: workerEnv(server, tmp, { S3WORKER_ENDPOINT: proxy.url, AWS_MAX_ATTEMPTS: '1' }) },
  );
}

/** Writes `steps` bursts of `perStep` lines to each writer, `pauseMs` apart. */
async function writeBursts(
  writers: Array<[LogWriter, string]>,
  steps: number,
  perStep: number,
  pauseMs = 5,
): Promise<void> {
  for (let step = 0; step < steps; step++) {
    for (const [writer, tag] of writers) writer.write(tag, perStep);
    await sleep(pauseMs);
  }
}

/** Resident memory of a process in bytes (Linux /proc). */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!kib) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kib[1]) * 1024;
}

describe('ship-logs when things fail', () => {
  it('after kill -9 twice and restarts, every line is in S3 at least once, copies bounded by the batches in flight', async () => {
    const proxy = await startTcpProxy(server.endpoint);
    const a = new LogWriter(join(logs, 'a.log'));
    const b = new LogWriter(join(logs, 'b.log'));
    const writers: Array<[LogWriter, string]> = [
      [a, 'a'],
      [b, 'b'],
    ];
    const kills = 2;
    try {
      let shipper = startShipper('crash/', proxy);
      await shipper.waitForLog('ship-logs starting');
      for (let round = 0; round < kills; round++) {
        await writeBursts(writers, 40, 250);
        if (round === 0) a.rotateByRename();
        else b.copyTruncate();
        // Killed in the middle of the stream: lines being written, read, sealed and uploaded.
        const writing = writeBursts(writers, 80, 250);
        await shipper.waitForLog('batch uploaded');
        await sleep(150 * (round + 1));
        shipper.child.kill('SIGKILL');
        await writing;
        const killed = await shipper.done;
        expect(killed.signal).toBe('SIGKILL');
        // Lines keep coming while the shipper is down.
        await writeBursts(writers, 10, 250);
        shipper = startShipper('crash/', proxy);
        await shipper.waitForLog('ship-logs starting');
      }
      await writeBursts(writers, 40, 250);
      await sleep(1_500);
      shipper.child.kill('SIGTERM');
      const result = await shipper.done;
      expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);

      const got = await shippedLines(bucket.admin, bucket.name, 'crash/');
      const expected = expectedLines({ a: a.written, b: b.written });
      expect(missingLines(expected, got)).toEqual([]);
      const copies = [...repeatedLines(got).values()].reduce((sum, n) => sum + n - 1, 0);
      // At most the batch open at each kill (its lines up to the batch size plus one read of
      // 1 MiB) can reach S3 twice; sealed batches are recognised by their id when re-sent.
      const bound = kills * Math.ceil((MAX_BATCH_BYTES + 1024 * 1024) / LINE_BYTES);
      expect(copies).toBeLessThanOrEqual(bound);
      expect(got.length).toBe(expected.length + copies);
    } finally {
      a.close();
      b.close();
      await proxy.stop();
    }
  });

  it('loses no line while S3 is unreachable for 30 s, and empties the spool once it is back', {
    timeout: 180_000,
  }, async () => {
    const proxy = await startTcpProxy(server.endpoint);
    const a = new LogWriter(join(logs, 'a.log'));
    const writers: Array<[LogWriter, string]> = [[a, 'a']];
    try {
      const shipper = startShipper('outage/', proxy);
      await shipper.waitForLog('ship-logs starting');
      await writeBursts(writers, 20, 500);
      await shipper.waitForLog('batch uploaded');
      // S3 goes away for 30 s, as a stopped server would (connections refused; the shared
      // MinIO of the other tests stays up behind the proxy), with lines and a rotation meanwhile.
      await proxy.stop();
      const downAt = Date.now();
      await writeBursts(writers, 100, 500, 20);
      a.rotateByRename();
      await writeBursts(writers, 100, 500, 20);
      const failed = await shipper.waitForLog('batch upload failed; retrying');
      await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
      await proxy.start();
      await shipper.waitForLog('batch uploaded after retries', 90_000);
      await writeBursts(writers, 20, 500);
      await sleep(1_500);
      shipper.child.kill('SIGTERM');
      const result = await shipper.done;
      expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
      expect(failed.spoolBatches).toBeGreaterThanOrEqual(1);
      // Batches piled up in the spool during the outage and all left it afterwards.
      const spooled = result.logs
        .filter((l) => l.msg === 'batch upload failed; retrying')
        .map((l) => Number(l.spoolBatches));
      expect(Math.max(...spooled)).toBeGreaterThan(1);
      expect(result.logs.find((l) => l.msg === 'ship-logs finished')).toMatchObject({
        spoolBatches: 0,
        dropped: 0,
      });
      const got = await shippedLines(bucket.admin, bucket.name, 'outage/');
      const expected = expectedLines({ a: a.written });
      expect(missingLines(expected, got)).toEqual([]);
      expect([...repeatedLines(got)].slice(0, 10)).toEqual([]);
    } finally {
      a.close();
      await proxy.stop().catch(() => {});
    }
  });

  it('pauses reading when the spool is full, with memory bounded, and drops nothing', async () => {
    const proxy = await startTcpProxy(server.endpoint);
    await proxy.stop();
    const a = new LogWriter(join(logs, 'a.log'));
    try {
      const shipper = startShipper('full/', proxy, [
        '--spool-max-bytes',
        '64KiB',
        '--progress-interval',
        '200ms',
      ]);
      const logLines = watchLogs(shipper.child.stdout!);
      await shipper.waitForLog('ship-logs starting');
      // About 60 MB of lines while S3 is unreachable: far more than the spool holds.
      const paused = shipper.waitForLog('spool full: reading paused', 60_000);
      await writeBursts([[a, 'a']], 120, 15_000, 10);
      await paused;
      await sleep(1_000);
      const written = a.written * LINE_BYTES;
      const read = Math.max(
        ...logLines.filter((l) => l.msg === 'progress').map((l) => Number(l.bytesIn)),
      );
      // Paused: the reader stopped far short of the end, and memory did not fill up with lines.
      expect(read).toBeLessThan(written / 4);
      expect(rssOf(shipper.child.pid!)).toBeLessThan(200 * 1024 * 1024);
      await proxy.start();
      await shipper.waitForLog('spool has room: reading resumed', 60_000);
      for (let i = 0; i < 1200 && linesUploaded(logLines) < a.written; i++) await sleep(100);
      shipper.child.kill('SIGTERM');
      const result = await shipper.done;
      expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
      expect(result.logs.some((l) => l.msg === 'spool full: dropping lines')).toBe(false);
      const got = await shippedLines(bucket.admin, bucket.name, 'full/');
      const expected = expectedLines({ a: a.written });
      expect(missingLines(expected, got)).toEqual([]);
      expect(got.length).toBe(expected.length);
    } finally {
      a.close();
      await proxy.stop().catch(() => {});
    }
  });

  it('with --on-spool-full drop, counts every dropped line exactly', async () => {
    const proxy = await startTcpProxy(server.endpoint);
    await proxy.stop();
    const a = new LogWriter(join(logs, 'a.log'));
    try {
      const shipper = startShipper('drop/', proxy, [
        '--spool-max-bytes',
        '64KiB',
        '--on-spool-full',
        'drop',
      ]);
      await shipper.waitForLog('ship-logs starting');
      const dropping = shipper.waitForLog('spool full: dropping lines', 60_000);
      await writeBursts([[a, 'a']], 60, 5_000, 10);
      await dropping;
      await sleep(1_000);
      await proxy.start();
      // Uploaded by the transfer's own retries (an outage shorter than --retry-window) or by
      // the shipper's after them: either way, no earlier upload could have got through.
      await shipper.waitForLog('batch uploaded', 90_000);
      await writeBursts([[a, 'a']], 10, 1_000);
      await sleep(2_000);
      shipper.child.kill('SIGTERM');
      const result = await shipper.done;
      expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
      const finished = result.logs.find((l) => l.msg === 'ship-logs finished')!;
      const dropped = Number(finished.dropped);
      expect(dropped).toBeGreaterThan(0);
      const got = await shippedLines(bucket.admin, bucket.name, 'drop/');
      expect([...repeatedLines(got)].slice(0, 10)).toEqual([]);
      expect(got.length + dropped).toBe(a.written);
      expect(
        result.logs.find((l) => l.msg === 'lines dropped because the spool was full'),
      ).toMatchObject({ dropped });
    } finally {
      a.close();
      await proxy.stop().catch(() => {});
    }
  });
});
