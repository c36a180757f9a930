import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import {
  LogWriter,
  linesUploaded,
  numberedLine,
  shippedObjects,
  waitUntil,
  watchLogs,
} from '../fixtures/ship-logs/harness.js';
import { type CliProcess, startCli, workerEnv } from '../support/run-cli.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { useTestBucket } from '../support/test-bucket.js';

// Every test here follows `logs/*.log` only: a rotated file (`a.log.1`) leaves the glob, so it
// is read through its open handle, finished after --rotate-wait and forgotten.

const server = inject('servers').s3;
const bucket = useTestBucket(server, 'ship-logs-rotation');
let tmp: string;
let logs: string;

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-ship-logs-rotation-'));
  logs = join(tmp, 'logs');
  mkdirSync(logs);
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const FINISHED = 'rotated file finished; closing it';

/** The shipper on `logs/*.log` → `s3://bucket/<prefix>{seq}`, so keys sort in batch order. */
function startShipper(
  prefix: string,
  extra: string[],
  env: Record<string, string> = {},
): CliProcess & { logs: Array<Record<string, unknown>> } {
  const shipper = startCli(
    [
      'run',
      'ship-logs',
      '--path',
      join(logs, '*.log'),
      '--output',
      `s3://${bucket.name}/${prefix}`,
      '--key-template',
      '{seq}{ext}',
      '--start-at',
      'beginning',
      '--max-batch-age',
      '500ms',
      '--compression-level',
      '1',
      '--spool-dir',
      join(tmp, 'spool'),
      ...extra,
    ],
    { env: workerEnv(server, tmp, env) },
  );
  return { ...shipper, logs: watchLogs(shipper.child.stdout!) };
}

/**
 * The lines of `tag` in the order S3 holds them (objects by key, which is by batch number),
 * compared with 1..written: every line exactly once and in order. Returns a short description
 * of the first difference, or undefined.
 */
async function orderProblem(
  prefix: string,
  tag: string,
  written: number,
): Promise<string | undefined> {
  const objects = await shippedObjects(bucket.admin, bucket.name, prefix);
  const got = objects.flatMap((o) => o.lines).filter((l) => l.startsWith(`${tag}-`));
  for (let i = 0; i < Math.max(got.length, written); i++) {
    const want = i < written ? numberedLine(tag, i + 1) : '(nothing)';
    if (got[i] !== want) {
      return `${tag}: ${got.length} lines for ${written} written; line ${i + 1} is ${got[i] ?? '(missing)'}, expected ${want}`;
    }
  }
  return undefined;
}

/** The tailer's id of a file (device and inode, as the checkpoint stores it). */
function fileId(path: string): string {
  const st = statSync(path, { bigint: true });
  return `${st.dev}:${st.ino}`;
}

/** The file ids the checkpoint holds positions for. */
function checkpointIds(): string[] {
  const path = join(tmp, 'spool', 'checkpoint.json');
  if (!existsSync(path)) return [];
  const state = JSON.parse(readFileSync(path, 'utf8')) as { files: Array<{ id: string }> };
  return state.files.map((f) => f.id);
}

describe('ship-logs with rotated files leaving the glob', () => {
  it('rename-and-create rotations while uploads crawl and reading is paused: every line once, in order', async () => {
    const proxy = await startTcpProxy(server.endpoint);
    const a = new LogWriter(join(logs, 'a.log'));
    const b = new LogWriter(join(logs, 'b.log'));
    const writers = [
      [a, 'a'],
      [b, 'b'],
    ] as const;
    /** Rotates like logrotate with `rotate 1`: the older rotation is deleted, read or not. */
    const rotate = (writer: LogWriter) => {
      writer.rotateByRename();
      rmSync(`${writer.path}.2`, { force: true });
    };
    try {
      const shipper = startShipper(
        'paused/',
        [
          '--max-batch-bytes',
          '64KiB',
          '--spool-max-bytes',
          '64KiB',
          '--poll-interval',
          '100ms',
          '--rotate-wait',
          '500ms',
        ],
        { S3WORKER_ENDPOINT: proxy.url },
      );
      await shipper.waitForLog('ship-logs starting');
      for (const [writer, tag] of writers) writer.write(tag, 2_000);
      await waitUntil('a first upload', () => linesUploaded(shipper.logs) > 0);
      // S3 turns slow: uploads crawl, the spool fills, reading pauses.
      proxy.setDelay(3_000);
      const paused = shipper.waitForLog('spool full: reading paused', 90_000);
      let pausedYet = false;
      void paused.then(() => {
        pausedYet = true;
      });
      while (!pausedYet) {
        for (const [writer, tag] of writers) writer.write(tag, 2_000);
        await Promise.race([paused, sleep(50)]);
      }
      // While paused, each log is rotated three times, scans apart, with lines between: each
      // rotated file leaves the glob unread, and the one before it is deleted.
      for (let round = 0; round < 3; round++) {
        for (const [writer, tag] of writers) {
          rotate(writer);
          writer.write(tag, 3_000);
        }
        // A scan found both new files before the next rotation.
        const following = 2 * (round + 2);
        await waitUntil(
          'the new files followed',
          () => shipper.logs.filter((l) => l.msg === 'following file').length >= following,
        );
      }
      // All of it while reading was paused.
      expect(shipper.logs.some((l) => l.msg === 'spool has room: reading resumed')).toBe(false);
      proxy.setDelay(0);
      await shipper.waitForLog('spool has room: reading resumed', 90_000);
      for (const [writer, tag] of writers) writer.write(tag, 1_000);
      const total = a.written + b.written;
      await waitUntil('every line uploaded', () => linesUploaded(shipper.logs) >= total, 120_000);
      // Each rotated file was read to its end, quiet for rotate-wait, finished and forgotten.
      await waitUntil(
        'the six rotated files finished',
        () => shipper.logs.filter((l) => l.msg === FINISHED).length >= 6,
      );
      shipper.child.kill('SIGTERM');
      const result = await shipper.done;
      expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
      expect(await orderProblem('paused/', 'a', a.written)).toBeUndefined();
      expect(await orderProblem('paused/', 'b', b.written)).toBeUndefined();
      expect(result.logs.find((l) => l.msg === 'ship-logs finished')).toMatchObject({
        linesUploaded: total,
        dropped: 0,
      });
      // Only the files at the paths are left in the checkpoint.
      expect(checkpointIds().sort()).toEqual([fileId(a.path), fileId(b.path)].sort());
    } finally {
      a.close();
      b.close();
      await proxy.stop();
    }
  });

  it('two rotations between two scans lose nothing: the file in the middle is found under its rotated name', async () => {
    const a = new LogWriter(join(logs, 'a.log'));
    try {
      a.write('a', 1_000);
      // Scans 3 s apart: the first one runs at start, the next long after the rotations.
      const shipper = startShipper('twice/', ['--poll-interval', '3s', '--rotate-wait', '500ms']);
      await shipper.waitForLog('following file');
      // At once: a.log → a.log.1, a new a.log written, that one → a.log.1 (the first →
      // a.log.2), and a third a.log.
      a.write('a', 1_000);
      a.rotateByRename();
      a.write('a', 1_000);
      a.rotateByRename();
      a.write('a', 1_000);
      // The scan after the rotations found the new a.log, and a later one finished a rotated
      // file: the stop then ships what the files followed hold.
      await shipper.waitForLog(FINISHED);
      shipper.child.kill('SIGTERM');
      const result = await shipper.done;
      expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
      expect(await orderProblem('twice/', 'a', a.written)).toBeUndefined();
      expect(result.logs.some((l) => l.msg === 'following file' && l.path === `${a.path}.1`)).toBe(
        true,
      );
    } finally {
      a.close();
    }
  });

  it('ships what a late writer adds to a rotated file for longer than --rotate-wait, then forgets the file', async () => {
    const rotateWait = 2_000;
    const a = new LogWriter(join(logs, 'a.log'));
    try {
      a.write('a', 100);
      const shipper = startShipper('late/', [
        '--poll-interval',
        '100ms',
        '--rotate-wait',
        `${rotateWait}ms`,
      ]);
      await waitUntil('the first lines uploaded', () => linesUploaded(shipper.logs) >= 100);
      const renamed = fileId(a.path);
      await waitUntil('the file in the checkpoint', () => checkpointIds().includes(renamed));
      // The application has not noticed the rotation: it writes on into a.log.1 for longer than
      // rotate-wait, in bursts closer together than rotate-wait.
      a.renameAway();
      const started = Date.now();
      while (Date.now() - started < 1.5 * rotateWait) {
        a.write('a', 100);
        await sleep(100);
      }
      expect(shipper.logs.some((l) => l.msg === FINISHED)).toBe(false);
      // Then it reopens its log, and the rotated file falls quiet.
      a.reopen();
      a.write('a', 100);
      const finished = await shipper.waitForLog(FINISHED);
      expect(finished.path).toBe(a.path);
      await waitUntil('every line uploaded', () => linesUploaded(shipper.logs) >= a.written);
      // The forget reaches the checkpoint with the next batch.
      await waitUntil('the checkpoint to lose the file', () => !checkpointIds().includes(renamed));
      shipper.child.kill('SIGTERM');
      const result = await shipper.done;
      expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
      expect(await orderProblem('late/', 'a', a.written)).toBeUndefined();
      expect(checkpointIds()).toEqual([fileId(a.path)]);
    } finally {
      a.close();
    }
  });
});
