import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import {
  expectedLines,
  LogWriter,
  latestProgress,
  linesUploaded,
  missingLines,
  numberedLine,
  repeatedLines,
  shippedLines,
  shippedObjects,
  waitUntil,
  watchLogs,
} from '../fixtures/ship-logs/harness.js';
import { type CliProcess, startCli, workerEnv } from '../support/run-cli.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { useTestBucket } from '../support/test-bucket.js';

const server = inject('servers').s3;
const bucket = useTestBucket(server, 'ship-logs-restart');
let tmp: string;
let logs: string;
let spool: string;

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-ship-logs-restart-'));
  logs = join(tmp, 'logs');
  spool = join(tmp, 'spool');
  mkdirSync(logs);
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A running shipper and its log lines as they arrive. */
interface Shipper extends CliProcess {
  seen: Array<Record<string, unknown>>;
}

/**
 * `run ship-logs --path 'logs/*.log'` as users run it: the default `--start-at` (end), a spool
 * that outlives the process. Batches are sealed only at `--max-batch-age` (5 minutes unless
 * `extra` says otherwise), so nothing is acknowledged before a kill unless a test wants it.
 */
function startShipper(prefix: string, extra: string[] = [], endpoint = server.endpoint): Shipper {
  const shipper = startCli(
    [
      'run',
      'ship-logs',
      '--path',
      join(logs, '*.log'),
      '--output',
      `s3://${bucket.name}/${prefix}`,
      '--spool-dir',
      spool,
      '--max-batch-age',
      '5m',
      '--poll-interval',
      '100ms',
      '--progress-interval',
      '100ms',
      ...extra,
    ],
    { env: workerEnv(server, tmp, { S3WORKER_ENDPOINT: endpoint, AWS_MAX_ATTEMPTS: '1' }) },
  );
  return { ...shipper, seen: watchLogs(shipper.child.stdout!) };
}

/** Waits until the shipper has read `lines` lines (its progress lines say so). */
function untilRead(shipper: Shipper, lines: number): Promise<void> {
  return waitUntil(
    `the shipper to read ${lines} lines`,
    () => (latestProgress(shipper.seen)?.lines ?? 0) >= lines,
  );
}

async function kill9(shipper: Shipper): Promise<void> {
  shipper.child.kill('SIGKILL');
  const result = await shipper.done;
  expect(result.signal).toBe('SIGKILL');
}

/** SIGTERM once the shipper follows its files: it ships what they hold and exits 0. */
async function stopWhenFollowing(shipper: Shipper): Promise<Record<string, unknown>[]> {
  await shipper.waitForLog('following file');
  shipper.child.kill('SIGTERM');
  const result = await shipper.done;
  expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
  return result.logs;
}

/** A log file holding `old` numbered lines written before the shipper ever ran. */
function logWithHistory(old: number): LogWriter {
  const history = new LogWriter(join(logs, 'app.log'));
  history.write('old', old);
  history.close();
  return new LogWriter(join(logs, 'app.log'));
}

describe('ship-logs restarts', () => {
  it('kill -9 before the first acknowledged batch: the restart ships every line written since the first start, none from before it', async () => {
    const app = logWithHistory(500);
    const startedAt = statSync(app.path).size;
    try {
      let shipper = startShipper('first/');
      await shipper.waitForLog('following file');
      app.write('new', 1_000);
      // The lines are read and sit in the open batch, not acknowledged (batches are 5 min long).
      await untilRead(shipper, 1_000);
      await kill9(shipper);
      const first = shipper.seen;
      app.write('new', 1_000);
      shipper = startShipper('first/');
      const restart = await stopWhenFollowing(shipper);

      const got = await shippedLines(bucket.admin, bucket.name, 'first/');
      expect(missingLines(expectedLines({ new: 2_000 }), got)).toEqual([]);
      expect(got).toEqual(expectedLines({ new: 2_000 }));
      expect(first.find((l) => l.msg === 'first start recorded')).toMatchObject({ files: 1 });
      expect(restart.find((l) => l.msg === 'following file')).toMatchObject({
        from: 'checkpoint',
        offset: startedAt,
      });
    } finally {
      app.close();
    }
  });

  it('a crash loop of three kill -9 with lines written in between loses nothing and ships nothing from before the first start', async () => {
    const app = logWithHistory(500);
    try {
      let shipper = startShipper('loop/');
      await shipper.waitForLog('following file');
      app.write('new', 300);
      await untilRead(shipper, 300);
      await kill9(shipper);
      // Down: lines keep coming. Each restart reads everything since the first start again
      // (nothing was acknowledged), so it has read all of them once it shows that many.
      app.write('new', 300);
      shipper = startShipper('loop/');
      await shipper.waitForLog('following file');
      await kill9(shipper);
      app.write('new', 300);
      shipper = startShipper('loop/');
      await untilRead(shipper, 900);
      await kill9(shipper);
      app.write('new', 300);
      shipper = startShipper('loop/');
      await stopWhenFollowing(shipper);

      const got = await shippedLines(bucket.admin, bucket.name, 'loop/');
      expect(missingLines(expectedLines({ new: 1_200 }), got)).toEqual([]);
      expect(got).toEqual(expectedLines({ new: 1_200 }));
    } finally {
      app.close();
    }
  });

  it('a first start that finds no file yet is recorded too: a file that appears later is read from its beginning after a kill -9', async () => {
    let shipper = startShipper('empty/');
    // The second scan runs after the first start was recorded (scans and the record take turns).
    await waitUntil('a second scan', () => (latestProgress(shipper.seen)?.scans ?? 0) >= 2);
    const app = new LogWriter(join(logs, 'app.log'));
    try {
      app.write('new', 300);
      await untilRead(shipper, 300);
      await kill9(shipper);
      const first = shipper.seen;
      app.write('new', 200);
      shipper = startShipper('empty/');
      await stopWhenFollowing(shipper);

      const got = await shippedLines(bucket.admin, bucket.name, 'empty/');
      expect(missingLines(expectedLines({ new: 500 }), got)).toEqual([]);
      expect(got).toEqual(expectedLines({ new: 500 }));
      expect(first.find((l) => l.msg === 'first start recorded')).toMatchObject({ files: 0 });
    } finally {
      app.close();
    }
  });

  it('kill -9 with lines unacknowledged, then a rename rotation out of the glob while down: the restart reads the renamed file on from its checkpoint before the new file, every line once and in order', async () => {
    const app = new LogWriter(join(logs, 'app.log'));
    try {
      // Batches sealed at 64 KiB (1,873 lines): the first 2,000 lines make one batch that is
      // acknowledged, the rest wait in the open batch (5 minutes long) when the kill comes.
      let shipper = startShipper('rotated-down/', ['--max-batch-bytes', '64KiB']);
      await shipper.waitForLog('following file');
      app.write('new', 2_000);
      await waitUntil('a first acknowledged batch', () => linesUploaded(shipper.seen) > 0);
      app.write('new', 500);
      await untilRead(shipper, 2_500);
      const acknowledged = linesUploaded(shipper.seen);
      expect(acknowledged).toBeLessThan(2_500);
      await kill9(shipper);
      // Down: the application writes on, logrotate renames app.log to app.log.1 (out of
      // --path '*.log'), and the application writes into the new app.log.
      app.write('new', 500);
      app.rotateByRename();
      app.write('new', 500);
      shipper = startShipper('rotated-down/', ['--max-batch-bytes', '64KiB']);
      const restart = await stopWhenFollowing(shipper);

      // Objects in key order are batches in order: every line once, the renamed file's before
      // the new file's.
      const objects = await shippedObjects(bucket.admin, bucket.name, 'rotated-down/');
      const got = objects.flatMap((o) => o.lines);
      const want = Array.from({ length: 3_500 }, (_, i) => numberedLine('new', i + 1));
      expect(missingLines(expectedLines({ new: 3_500 }), [...got].sort())).toEqual([]);
      expect([...repeatedLines(got)].slice(0, 10)).toEqual([]);
      expect(got).toEqual(want);
      expect(linesUploaded(restart)).toBe(3_500 - acknowledged);
      expect(restart.find((l) => l.msg === 'following file')).toMatchObject({
        path: app.path,
        at: `${app.path}.1`,
        from: 'checkpoint',
      });
    } finally {
      app.close();
    }
  });

  it('a batch uploaded just before a crash is recognised by its id at the restart and not uploaded twice', async () => {
    const app = new LogWriter(join(logs, 'app.log'));
    try {
      await spoolTwoBatches('twice/', app);
      // The spool as a crash right after the uploads would leave it: the batches are in S3,
      // but neither the checkpoint nor the spool knows it yet.
      const before = join(tmp, 'spool-before-upload');
      cpSync(spool, before, { recursive: true });
      let shipper = startShipper('twice/');
      const uploaded = await stopWhenFollowing(shipper);
      expect(linesUploaded(uploaded)).toBe(1_000);
      const objects = await shippedObjects(bucket.admin, bucket.name, 'twice/');
      expect(objects.length).toBe(2);
      rmSync(spool, { recursive: true });
      cpSync(before, spool, { recursive: true });

      shipper = startShipper('twice/');
      const restart = await stopWhenFollowing(shipper);
      expect(
        restart.filter((l) => l.msg === 'batch was uploaded before a restart; not uploaded again')
          .length,
      ).toBe(2);
      expect(linesUploaded(restart)).toBe(0);
      const after = await shippedObjects(bucket.admin, bucket.name, 'twice/');
      expect(after.map((o) => o.key)).toEqual(objects.map((o) => o.key));
      const got = await shippedLines(bucket.admin, bucket.name, 'twice/');
      expect([...repeatedLines(got)].slice(0, 10)).toEqual([]);
      expect(got).toEqual(expectedLines({ a: 1_000 }));
    } finally {
      app.close();
    }
  });

  it('a damaged spooled batch is read again from the files with the batches after it: every line once', async () => {
    const app = new LogWriter(join(logs, 'app.log'));
    try {
      await spoolTwoBatches('damaged/', app);
      // The first batch's data cut short (a disk error, a full disk at the wrong moment).
      const first = dataFiles(spool)[0]!;
      truncateSync(first, Math.floor(statSync(first).size / 2));

      const shipper = startShipper('damaged/');
      const restart = await stopWhenFollowing(shipper);
      const got = await shippedLines(bucket.admin, bucket.name, 'damaged/');
      expect(missingLines(expectedLines({ a: 1_000 }), got)).toEqual([]);
      // The later batch was dropped too and read again, never uploaded: no line twice.
      expect([...repeatedLines(got)].slice(0, 10)).toEqual([]);
      expect(got).toEqual(expectedLines({ a: 1_000 }));
      expect(
        restart.find(
          (l) => l.msg === 'spooled batches dropped; their lines are read again from the files',
        ),
      ).toMatchObject({ laterBatches: expect.arrayContaining([expect.any(Number)]) });
    } finally {
      app.close();
    }
  });
});

/**
 * A shipper on `app` with S3 unreachable (a stopped proxy), so that two batches of 500 lines
 * each are sealed and wait in the spool; then kill -9.
 */
async function spoolTwoBatches(prefix: string, app: LogWriter): Promise<void> {
  const proxy = await startTcpProxy(server.endpoint);
  await proxy.stop();
  try {
    const shipper = startShipper(prefix, ['--max-batch-age', '200ms'], proxy.url);
    await shipper.waitForLog('following file');
    app.write('a', 500);
    await waitUntil('a first spooled batch', () => spooledBatches(spool) >= 1);
    app.write('a', 500);
    await waitUntil('a second spooled batch', () => spooledBatches(spool) >= 2);
    await kill9(shipper);
  } finally {
    await proxy.stop().catch(() => {});
  }
}

/** The sealed batches' data files in the spool folder, oldest first. */
function dataFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => /^\d+\.data$/.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/** Sealed batches with lines in the spool folder (their data and description both written). */
function spooledBatches(dir: string): number {
  if (!existsSync(dir)) return 0;
  const names = new Set(readdirSync(dir));
  return [...names].filter((n) => /^\d+\.data$/.test(n) && names.has(n.replace(/\.data$/, '.json')))
    .length;
}
