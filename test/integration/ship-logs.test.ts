import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import {
  expectedLines,
  LogWriter,
  missingLines,
  repeatedLines,
  shippedLines,
  shippedObjects,
} from '../fixtures/ship-logs/harness.js';
import {
  CLI,
  type CliResult,
  ensureBuilt,
  runCli,
  startCli,
  workerEnv,
} from '../support/run-cli.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { useTestBucket } from '../support/test-bucket.js';

const server = inject('servers').s3;
const bucket = useTestBucket(server, 'ship-logs');
let tmp: string;

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 's3worker-ship-logs-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** `seq 1 <count>` piped into `s3worker run ship-logs --path - ...args`; resolves when the shipper exits. */
function shipSeq(
  count: number,
  args: string[],
  env: Record<string, string>,
): Promise<CliResult & { peakRssBytes: number }> {
  ensureBuilt();
  const seq = spawn('seq', ['1', String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const child = spawn(process.execPath, [CLI, 'run', 'ship-logs', '--path', '-', ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: [seq.stdout, 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  // The shipper's peak resident memory (VmHWM) as last read while it ran.
  let peakRssBytes = 0;
  const watch = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peakRssBytes = Number(m[1]) * 1024;
    } catch {
      // Gone: the last value read stands.
    }
  }, 50);
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearInterval(watch);
      const logs = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, signal, stdout, stderr, logs, peakRssBytes });
    });
  });
}

const seqLines = (count: number) => Array.from({ length: count }, (_, i) => String(i + 1)).sort();

describe('ship-logs from standard input', () => {
  it('ships every line of `seq 1 100000` and exits 0 at the end of input', async () => {
    const result = await shipSeq(
      100_000,
      ['--output', `s3://${bucket.name}/stdin/`, '--content-encoding', 'none'],
      workerEnv(server, tmp),
    );
    expect(result.code, result.stdout + result.stderr).toBe(ExitCode.Success);
    // Without Content-Encoding the object is the gzip file it is, typed as one.
    const objects = await shippedObjects(bucket.admin, bucket.name, 'stdin/');
    for (const o of objects) {
      expect(o.contentType).toBe('application/gzip');
      expect(o.contentEncoding).toBeUndefined();
    }
    const lines = await shippedLines(bucket.admin, bucket.name, 'stdin/');
    expect(lines.length).toBe(100_000);
    expect(lines).toEqual(seqLines(100_000));
    const finished = result.logs.find((l) => l.msg === 'ship-logs finished');
    expect(finished).toMatchObject({ lines: 100_000, linesUploaded: 100_000, dropped: 0 });
  });

  it('sweeps stale uploads below its output folder only: output `logs` leaves `logs-old/` alone', async () => {
    for (const key of ['sweep/left-by-a-killed-shipper', 'sweep-old/another-writer']) {
      await bucket.admin.send(new CreateMultipartUploadCommand({ Bucket: bucket.name, Key: key }));
    }
    // Past any rounding of the server's Initiated time to whole seconds.
    await sleep(1100);
    const result = await shipSeq(
      10,
      ['--output', `s3://${bucket.name}/sweep`, '--sweep-age', '10ms'],
      workerEnv(server, tmp),
    );
    expect(result.code, result.stdout + result.stderr).toBe(ExitCode.Success);
    const left = await bucket.admin.send(new ListMultipartUploadsCommand({ Bucket: bucket.name }));
    const keys = (left.Uploads ?? []).map((u) => u.Key).filter((k) => k?.startsWith('sweep'));
    expect(keys).toEqual(['sweep-old/another-writer']);
    expect(await shippedLines(bucket.admin, bucket.name, 'sweep/')).toEqual(seqLines(10));
  });

  it('keeps memory bounded however long the input: 40 million lines (about 350 MB) through stdin', async () => {
    const result = await shipSeq(
      40_000_000,
      ['--output', `s3://${bucket.name}/stdin-long/`, '--compression-level', '1'],
      workerEnv(server, tmp),
    );
    expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
    expect(result.logs.find((l) => l.msg === 'ship-logs finished')).toMatchObject({
      lines: 40_000_000,
      linesUploaded: 40_000_000,
      dropped: 0,
    });
    // Far below the input's size: no chunk read is kept once it is in a batch.
    expect(result.peakRssBytes).toBeGreaterThan(0);
    expect(result.peakRssBytes).toBeLessThan(300 * 1024 * 1024);
  });

  it('writes keys that follow the template and never collide across restarts', async () => {
    const spool = join(tmp, 'spool');
    const prefix = 'keys/';
    const template = '{hostname}/{yyyy}-{MM}-{dd}T{HH}/{taskId}-{seq}{ext}';
    const args = (spoolDir: string, extra: string[] = []) => [
      '--output',
      `s3://${bucket.name}/${prefix}`,
      '--key-template',
      template,
      '--spool-dir',
      spoolDir,
      '--max-batch-bytes',
      '4KiB',
      ...extra,
    ];
    for (let run = 0; run < 3; run++) {
      const r = await shipSeq(20_000, args(spool), workerEnv(server, tmp));
      expect(r.code, r.stdout + r.stderr).toBe(ExitCode.Success);
    }
    const objects = await shippedObjects(bucket.admin, bucket.name, prefix);
    const keyPattern =
      /^keys\/([^/]+)\/(\d{4})-(\d{2})-(\d{2})T(\d{2})\/([^/]+)-(\d{10})\.log\.gz$/;
    const seqs: number[] = [];
    for (const o of objects) {
      const m = keyPattern.exec(o.key);
      expect(m, o.key).not.toBeNull();
      expect(m![6]).toBe(m![1]); // outside ECS the task id is the host name
      seqs.push(Number(m![7]));
      // Compressed lines: the lines' type, the codec as Content-Encoding.
      expect(o.contentType).toBe('text/plain; charset=utf-8');
      expect(o.contentEncoding).toBe('gzip');
    }
    // Several batches per run, numbered on across the three runs with no number used twice.
    expect(objects.length).toBeGreaterThan(3);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(objects.flatMap((o) => o.lines).length).toBe(60_000);

    // A fresh spool starts numbering at 0 again: its keys are taken, so it must pick new ones
    // and leave the objects already there untouched.
    const before = objects.length;
    const r = await shipSeq(20_000, args(join(tmp, 'fresh-spool')), workerEnv(server, tmp));
    expect(r.code, r.stdout + r.stderr).toBe(ExitCode.Success);
    expect(r.logs.some((l) => l.msg === 'batch key is taken by another object; new key')).toBe(
      true,
    );
    const after = await shippedObjects(bucket.admin, bucket.name, prefix);
    expect(after.length).toBeGreaterThan(before);
    expect(after.flatMap((o) => o.lines).length).toBe(80_000);
  });

  it('puts the ECS task metadata in keys and ndjson records', async () => {
    const metadata = createServer((req, res) => {
      if (req.url === '/v4/abc/task') {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            Cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/prod',
            Family: 'web-app',
            TaskARN: 'arn:aws:ecs:eu-west-1:123456789012:task/prod/0123456789abcdef',
          }),
        );
        return;
      }
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
    try {
      const address = metadata.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const r = await shipSeq(
        500,
        [
          '--output',
          `s3://${bucket.name}/ecs/`,
          '--key-template',
          '{cluster}/{family}/{taskId}-{seq}{ext}',
          '--format',
          'ndjson',
          '--compression',
          'zstd',
        ],
        workerEnv(server, tmp, {
          ECS_CONTAINER_METADATA_URI_V4: `http://127.0.0.1:${port}/v4/abc`,
        }),
      );
      expect(r.code, r.stdout + r.stderr).toBe(ExitCode.Success);
      const objects = await shippedObjects(bucket.admin, bucket.name, 'ecs/');
      expect(objects.map((o) => o.key)).toEqual([
        'ecs/prod/web-app/0123456789abcdef-0000000000.ndjson.zst',
      ]);
      expect(objects[0]!.contentType).toBe('application/x-ndjson');
      expect(objects[0]!.contentEncoding).toBe('zstd');
      const records = objects[0]!.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(records.length).toBe(500);
      expect(records[41]).toMatchObject({
        message: '42',
        file: '-',
        cluster: 'prod',
        family: 'web-app',
        taskId: '0123456789abcdef',
      });
      expect(Number.isNaN(Date.parse(String(records[0]!.timestamp)))).toBe(false);
    } finally {
      metadata.close();
    }
  });
});

describe('ship-logs tailing files', () => {
  /** ship-logs following `logs/*.log` from their beginning into `prefix`. */
  function tailArgs(logs: string, prefix: string, extra: string[]): string[] {
    return [
      'run',
      'ship-logs',
      '--path',
      join(logs, '*.log'),
      '--output',
      `s3://${bucket.name}/${prefix}`,
      '--start-at',
      'beginning',
      '--spool-dir',
      join(tmp, 'spool'),
      ...extra,
    ];
  }

  it('on SIGTERM ships everything the files held at that moment, even when far behind', async () => {
    const logs = join(tmp, 'logs');
    mkdirSync(logs);
    const a = new LogWriter(join(logs, 'a.log'));
    // About 40 MB written before the shipper starts: more than a few reads behind at the stop.
    for (let i = 0; i < 120; i++) a.write('a', 10_000);
    const shipper = startCli(tailArgs(logs, 'behind/', ['--compression-level', '1']), {
      env: workerEnv(server, tmp),
    });
    try {
      await shipper.waitForLog('following file');
      shipper.child.kill('SIGTERM');
      const result = await shipper.done;
      expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
      const got = await shippedLines(bucket.admin, bucket.name, 'behind/');
      expect(got.length).toBe(a.written);
      expect(missingLines(expectedLines({ a: a.written }), got)).toEqual([]);
    } finally {
      a.close();
    }
  });

  it('stays healthy while idle: its file scans count as progress for the health check', async () => {
    const logs = join(tmp, 'idle-logs');
    mkdirSync(logs);
    const a = new LogWriter(join(logs, 'a.log'));
    a.write('a', 10);
    const env = workerEnv(server, tmp);
    const shipper = startCli(
      tailArgs(logs, 'idle/', ['--poll-interval', '100ms', '--progress-interval', '200ms']),
      { env },
    );
    try {
      await shipper.waitForLog('following file');
      // Well past --max-age with no new line: only the scans move.
      await sleep(2_500);
      const health = await runCli(['healthcheck', '--max-age', '1s'], { env });
      expect(health.code, health.stdout + health.stderr).toBe(0);
      shipper.child.kill('SIGTERM');
      const result = await shipper.done;
      expect(result.code, result.stdout.slice(-3000) + result.stderr).toBe(ExitCode.Success);
      const last = result.logs.filter((l) => l.msg === 'progress').at(-1) as
        | { logs?: { scans: number; lines: number } }
        | undefined;
      expect(last?.logs?.scans).toBeGreaterThan(10);
      expect(last?.logs?.lines).toBe(10);
    } finally {
      a.close();
    }
  });

  it('ships every line exactly once through renames, a copytruncate and two renames under backpressure', async () => {
    const logs = join(tmp, 'logs');
    mkdirSync(logs);
    const proxy = await startTcpProxy(server.endpoint);
    const perFile = 100_000;
    const a = new LogWriter(join(logs, 'a.log'));
    const b = new LogWriter(join(logs, 'b.log'));
    const shipper = startCli(
      [
        'run',
        'ship-logs',
        '--path',
        join(logs, '*.log*'),
        '--output',
        `s3://${bucket.name}/tail/`,
        '--start-at',
        'beginning',
        '--max-batch-bytes',
        '256KiB',
        '--max-batch-age',
        '1s',
        '--spool-max-bytes',
        '64KiB',
        '--compression-level',
        '1',
        '--poll-interval',
        '100ms',
        '--spool-dir',
        join(tmp, 'spool'),
      ],
      { env: workerEnv(server, tmp, { S3WORKER_ENDPOINT: proxy.url }) },
    );
    try {
      await shipper.waitForLog('ship-logs starting');
      const steps = 200;
      const perStep = perFile / steps;
      for (let step = 1; step <= steps; step++) {
        for (const [writer, tag] of [
          [a, 'a'],
          [b, 'b'],
        ] as const) {
          writer.write(tag, perStep);
          if (step === steps * 0.2 || step === steps * 0.6) writer.rotateByRename();
          if (step === steps * 0.4) writer.copyTruncate();
        }
        if (step === steps * 0.8) {
          // S3 turns slow: uploads crawl, the spool fills, the reader pauses; meanwhile each
          // log is rotated twice in quick succession.
          proxy.setDelay(2_000);
          let paused = false;
          const pause = shipper.waitForLog('spool full: reading paused', 60_000).then(() => {
            paused = true;
          });
          while (!paused) {
            a.write('a', 500);
            b.write('b', 500);
            await Promise.race([pause, sleep(20)]);
          }
          for (const [writer, tag] of [
            [a, 'a'],
            [b, 'b'],
          ] as const) {
            writer.rotateByRename();
            writer.write(tag, 10);
            writer.rotateByRename();
          }
          proxy.setDelay(0);
        }
        await sleep(5);
      }
      // Let the shipper catch up before the stop, so the stop itself has little to do.
      await sleep(1_500);
      shipper.child.kill('SIGTERM');
      const result = await shipper.done;
      expect(result.code, result.stdout.slice(-4000) + result.stderr).toBe(ExitCode.Success);
      const got = await shippedLines(bucket.admin, bucket.name, 'tail/');
      const expected = expectedLines({ a: a.written, b: b.written });
      expect(missingLines(expected, got)).toEqual([]);
      expect([...repeatedLines(got)].slice(0, 20)).toEqual([]);
      expect(got.length).toBe(expected.length);
      expect(
        result.logs.some((l) => l.msg === 'file truncated; reading it again from the start'),
      ).toBe(true);
    } finally {
      a.close();
      b.close();
      await proxy.stop();
    }
  });
});
