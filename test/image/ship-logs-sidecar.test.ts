/**
 * ship-logs as the sidecar of docs/ship-logs.md: an application container appends lines to a
 * log file on a volume both containers mount; the s3worker:core container (read-only root, the
 * log volume read-only, a scratch volume for its spool and checkpoint) ships them while they
 * are written, and on `stop` (SIGTERM through tini) reads what is left, uploads it and exits 0:
 * every line in S3 exactly once.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import {
  expectedLines,
  missingLines,
  numberedLine,
  repeatedLines,
  shippedLines,
  shippedObjects,
} from '../fixtures/ship-logs/harness.js';
import { useTestBucket } from '../support/test-bucket.js';
import { CORE_IMAGE, engine, runImage, startImage, waitUntil } from './support/container-engine.js';
import {
  keysFromEnvironment,
  logLine,
  logLines,
  readOnlyRoot,
  SCRATCH,
  scratchFolder,
} from './support/worker-run.js';

const servers = inject('servers');
const bucket = useTestBucket(servers.s3, 'img-logs');

/** The application's log volume: a host folder both containers mount, removed after the test. */
function logVolume(): string {
  const dir = mkdtempSync(join(tmpdir(), 's3worker-image-logs-'));
  // The application writes as its own user (here the image's, 10001); the shipper reads.
  chmodSync(dir, 0o777);
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The application: a second container (the s3worker image's shell, as any image would have
 * one) that appends `count` numbered lines to /var/log/app/app.log, one `echo >>` each (an
 * O_APPEND write per line, as a logger does), numbered from `from`.
 */
async function appendLines(volume: string, tag: string, from: number, count: number) {
  const script = [
    `i=${from}`,
    `end=$((${from} + ${count}))`,
    'while [ "$i" -lt "$end" ]; do',
    // numberedLine(tag, i): the tag, the number padded to 7 digits, 24 x's.
    `  printf '%s-%07d %s\\n' "${tag}" "$i" '${'x'.repeat(24)}' >> /var/log/app/app.log`,
    '  i=$((i + 1))',
    'done',
  ].join('\n');
  const app = await runImage(
    ['-v', `${volume}:/var/log/app`, '--entrypoint', 'sh'],
    ['-c', script],
  );
  expect(app.code, app.stderr).toBe(0);
}

describe('ship-logs as a sidecar, in the image', () => {
  it("ships an application container's lines from a shared volume while they are written, and on stop every line is in S3 exactly once", async () => {
    const volume = logVolume();
    const keys = keysFromEnvironment(servers.s3);
    const prefix = 'app-logs/';
    const shipper = startImage(
      'ship-logs',
      [
        ...readOnlyRoot(),
        '-v',
        `${volume}:/var/log/app:ro`,
        '-v',
        `${scratchFolder()}:${SCRATCH}`,
        ...keys.flags,
        '-e',
        `S3WORKER_ENDPOINT=${servers.s3.endpoint}`,
      ],
      [
        'run',
        'ship-logs',
        '--path',
        '/var/log/app/*.log',
        '--output',
        `s3://${bucket.name}/${prefix}`,
        // Short batches, so lines reach S3 while the application still runs.
        '--max-batch-age',
        '1s',
        '--log-format',
        'json',
      ],
      // The core target: every job but the database ones, the image a log sidecar needs.
      { env: keys.env, image: CORE_IMAGE },
    );
    // The first start is decided before anything is written (no file yet): the file the
    // application creates afterwards is new, and read from its start.
    await waitUntil('the shipper to record its first start', () =>
      logLines(shipper.output()).some((l) => l.msg === 'first start recorded'),
    );

    await appendLines(volume, 'app', 1, 1500);
    // Shipped while running, not only at the stop: S3 holds the first 1500 lines.
    await waitUntil(
      'the first 1500 lines in S3',
      async () => (await shippedLines(bucket.admin, bucket.name, prefix)).length >= 1500,
      { timeoutMs: 60_000, intervalMs: 500 },
    );

    // More lines, then the stop at once: what the shipper has not read or sealed of them by
    // then, it reads and uploads in its drain.
    await appendLines(volume, 'app', 1501, 1500);
    const stop = await engine(['stop', '--time', '60', shipper.name], { timeoutMs: 90_000 });
    expect(stop.code, stop.stderr).toBe(0);
    expect(await shipper.exited, shipper.output().slice(-3000)).toBe(0);

    const got = await shippedLines(bucket.admin, bucket.name, prefix);
    const expected = expectedLines({ app: 3000 });
    expect(missingLines(expected, got)).toEqual([]);
    expect([...repeatedLines(got)]).toEqual([]);
    expect(got).toEqual(expected);
    expect(got[0]).toBe(numberedLine('app', 1));

    // More than one batch: lines went up while the application wrote, and the rest at the stop.
    const objects = await shippedObjects(bucket.admin, bucket.name, prefix);
    expect(objects.length).toBeGreaterThan(1);
    expect(objects.every((o) => o.contentEncoding === 'gzip')).toBe(true);
    const finished = logLine(shipper.output(), 'ship-logs finished');
    expect(finished).toMatchObject({ lines: 3000, linesUploaded: 3000, spoolBatches: 0 });
  });
});
