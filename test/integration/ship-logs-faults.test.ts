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
  waitUntil,
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

/** Batches the shipper reports uploaded so far (its `batch uploaded` log lines). */
function batchesUploaded(logs: ReadonlyArray<Record<string, unknown>>): number {
  return logs.filter((l) => l.msg === 'batch uploaded' || l.msg === 'batch uploaded after retries')
    .length;
}

/** Resident memory of a process in bytes (Linux /proc). */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!kib) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kib[1]) * 1024;
}

describe('ship-logs when things fail', () => {
  it('after kill -9 twice mid-stream and restarts, every line is in S3, none twice', async () => {
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
      let seen = watchLogs(shipper.child.stdout!);
      await shipper.waitForLog('ship-logs starting');
      for (let round = 0; round < kills; round++) {
        await writeBursts(writers, 40, 250);
        if (round === 0) a.rotateByRename();
        else b.copyTruncate();
        // Killed in the middle of the stream (lines being written, read, sealed and uploaded),
        // on this process's uploads since the rotation: one batch later at each round, so the
        // kills land at different points of the stream.
        const uploadsBefore = batchesUploaded(seen);
        const writing = writeBursts(writers, 80, 250);
        await waitUntil(
          `batch ${uploadsBefore + round + 2} uploaded`,
          () => batchesUploaded(seen) >= uploadsBefore + round + 2,
        );
        shipper.child.kill('SIGKILL');
        await writing;
        const killed = await shipper.done;
        expect(killed.signal).toBe('SIGKILL');
        // Lines keep coming while the shipper is down.
        await writeBursts(writers, 10, 250);
        shipper = startShipper('crash/', proxy);
        seen = watchLogs(shipper.child.stdout!);
        await shipper.waitForLog('ship-logs starting');
      }
      // SIGTERM ships every line the files hold at the stop: no wait for the shipper to catch up.
      await writeBursts(writers, 40, 250);
      shipper.child.kill('SIGTERM');
      const result = await shipper.done;
      expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);

      const got = await shippedLines(bucket.admin, bucket.name, 'crash/');
      const expected = expectedLines({ a: a.written, b: b.written });
      expect(missingLines(expected, got)).toEqual([]);
      // A copy could only come from the batch open at a kill, and that batch never reaches S3:
      // it dies with the process and its lines are read again from the files. A sealed batch
      // sent again is recognised by its id (ship-logs-restart.test.ts). So: no copy at all.
      expect([...repeatedLines(got)].slice(0, 10)).toEqual([]);
      expect(got.length).toBe(expected.length);
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
