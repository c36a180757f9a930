import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeFields } from '../../src/config/option-fields.js';
import { parseArgs } from '../../src/config/parse-args.js';
import { runtimeOptionsSchema } from '../../src/config/runtime-options.js';
import { ConfigError, ExitCode, InterruptedError, S3WorkerError } from '../../src/errors.js';
import { exitCodeOf } from '../../src/runtime/exit-code.js';
import { renderBar } from '../../src/runtime/progress-display.js';
import { ProgressTracker } from '../../src/runtime/progress-tracker.js';
import { readStatus, STATUS_FILE_NAME, writeStatus } from '../../src/runtime/status-file.js';

const result = (failed: number, interrupted = false) => ({
  objects: { done: 1, skipped: 0, failed },
  bytesIn: 0,
  bytesOut: 0,
  interrupted,
});
const calm = { requested: false, aborted: false };

describe('exit code of a run', () => {
  it('maps results: failures beat interruption, which beats success', () => {
    expect(exitCodeOf({ result: result(0) }, calm)).toBe(ExitCode.Success);
    expect(exitCodeOf({ result: result(0, true) }, calm)).toBe(ExitCode.Interrupted);
    expect(exitCodeOf({ result: result(2, true) }, calm)).toBe(ExitCode.ObjectsFailed);
  });

  it('maps errors: S3WorkerError keeps its code, others are Unexpected', () => {
    expect(exitCodeOf({ error: new ConfigError([]) }, calm)).toBe(ExitCode.Config);
    const denied = new S3WorkerError('no', {
      code: 'ACCESS_DENIED',
      exitCode: ExitCode.AccessDenied,
    });
    expect(exitCodeOf({ error: denied }, calm)).toBe(ExitCode.AccessDenied);
    expect(exitCodeOf({ error: new TypeError('bug') }, calm)).toBe(ExitCode.Unexpected);
  });

  it('an error after a stop is an interruption, unless it is a classified error during the drain', () => {
    const abortError = Object.assign(new Error('aborted'), { name: 'AbortError' });
    const stopped = { requested: true, aborted: false };
    expect(exitCodeOf({ error: abortError }, stopped)).toBe(ExitCode.Interrupted);
    expect(exitCodeOf({ error: new InterruptedError() }, stopped)).toBe(ExitCode.Interrupted);
    expect(exitCodeOf({ error: new TypeError('x') }, stopped)).toBe(ExitCode.Interrupted);
    const denied = new S3WorkerError('no', {
      code: 'ACCESS_DENIED',
      exitCode: ExitCode.AccessDenied,
    });
    expect(exitCodeOf({ error: denied }, stopped)).toBe(ExitCode.AccessDenied);
    expect(exitCodeOf({ error: denied }, { requested: true, aborted: true })).toBe(
      ExitCode.Interrupted,
    );
  });
});

describe('progress', () => {
  it('counts, rate and ETA from bytes when the total is known', () => {
    let now = 0;
    const t = new ProgressTracker(() => now);
    t.addTotal(4, 4_000_000);
    t.addBytesIn(1_000_000);
    t.addBytesOut(500_000);
    t.objectDone('done');
    t.objectDone('skipped');
    now = 1000;
    const s = t.snapshot();
    expect(s.objects).toEqual({ total: 4, done: 1, skipped: 1, failed: 0 });
    expect(s.mbPerSecond).toBe(1);
    expect(s.etaMs).toBe(3000);
    expect(renderBar(s)).toBe('[#####---------------] 2/4 objects · 976.6 KiB · 1.0 MB/s · ETA 3s');
  });

  it('falls back to an object-count ETA, and shows failures', () => {
    let now = 0;
    const t = new ProgressTracker(() => now);
    t.addTotal(10, 0);
    now = 2000;
    t.objectDone('done');
    t.objectDone('failed');
    const s = t.snapshot();
    expect(s.etaMs).toBe(8000);
    expect(renderBar(s)).toContain('1 failed');
  });
});

describe('status file', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is written whole through a temp file and read back; absent is undefined', async () => {
    dir = mkdtempSync(join(tmpdir(), 's3worker-status-'));
    expect(await readStatus(dir)).toBeUndefined();
    const status = {
      pid: 1,
      job: 'j',
      runId: 'r',
      state: 'running' as const,
      startedAt: 'a',
      updatedAt: 'b',
      lastProgressAt: 'b',
      objectsDone: 3,
      bytesOut: 4,
    };
    await Promise.all([1, 2, 3, 4, 5].map((n) => writeStatus(dir, { ...status, objectsDone: n })));
    expect(readdirSync(dir)).toEqual([STATUS_FILE_NAME]);
    expect((await readStatus(dir))?.objectsDone).toBeGreaterThan(0);
    await writeStatus(dir, { ...status, state: 'done', exitCode: 0 });
    expect(await readStatus(dir)).toEqual({ ...status, state: 'done', exitCode: 0 });
  });
});

describe('argument parsing', () => {
  const fields = describeFields(runtimeOptionsSchema);

  it('a missing value, and a negative number that is a value', () => {
    expect(parseArgs(['--log-level'], fields).issues).toEqual([
      { path: 'logLevel', message: 'option --log-level needs a value' },
    ]);
    expect(parseArgs(['--max-attempts', '-1'], fields).values.maxAttempts).toBe(-1);
  });

  it('an unknown option does not turn its value into a stray argument', () => {
    const parsed = parseArgs(['--nope', 'value', 'job-arg', '--', '--literal'], fields);
    expect(parsed.issues).toEqual([{ path: '--nope', message: 'unknown option' }]);
    expect(parsed.positionals).toEqual(['job-arg', '--literal']);
  });
});
