import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { onTestFinished } from 'vitest';
import type { S3Server } from './servers.js';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '../..');
/** The built CLI, as `npx s3worker` runs it (package.json `bin`). */
export const CLI = join(ROOT, 'dist/cli/main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function builtMtime(cli: string): number {
  try {
    return statSync(cli).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Builds `dist/` (`npm run build`) when any file under src/ is newer than the built CLI, so CLI
 * tests never run stale code. CI builds before testing, so there this is a stat walk. Test files
 * running side by side take turns through a lock folder. A failed build throws with tsc's
 * output, and leaves the CLI marked out of date so every later call fails the same way rather
 * than running what tsc half wrote. `root` is the repository root (a test points it elsewhere).
 */
export function ensureBuilt(root = ROOT): void {
  const cli = join(root, 'dist/cli/main.js');
  const fresh = () => builtMtime(cli) >= newestMtime(join(root, 'src'));
  if (fresh()) return;
  const lock = join(
    tmpdir(),
    `s3worker-build-${Buffer.from(root).toString('hex').slice(-16)}.lock`,
  );
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`build lock ${lock} held for 3 minutes`);
      // Another test file is building: wait for it, then check again.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
      if (fresh()) return;
    }
  }
  try {
    const build = spawnSync(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      { cwd: root, encoding: 'utf8' },
    );
    if (build.status !== 0) {
      // tsc writes dist/ even when a file has a type error: make sure that output is never
      // taken as up to date.
      if (existsSync(cli)) utimesSync(cli, 0, 0);
      const output = `${build.stdout ?? ''}${build.stderr ?? ''}`.trim();
      throw new Error(
        `npm run build failed (${build.error?.message ?? `exit code ${build.status}`}); the CLI tests need a build of the current src/:\n${output}`,
      );
    }
    if (!existsSync(cli)) throw new Error(`npm run build did not produce ${cli}`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * The environment a CLI run gets to reach the test S3 server: keys and region as the SDK reads
 * them (never argv), the endpoint as s3worker's own variable, the status file in `tmpDir`.
 */
export function workerEnv(
  s3: S3Server,
  tmpDir: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: s3.region,
    S3WORKER_ENDPOINT: s3.endpoint,
    S3WORKER_TMPDIR: tmpDir,
    ...extra,
  };
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * A CLI process must not outlive its test: when an assertion fails before the test stops it, it
 * is killed as the test finishes (or, started outside a test, when the test file's worker exits).
 */
function reapLater(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  try {
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
  } catch {
    // Not inside a running test (e.g. beforeAll): the exit hook above covers it.
  }
}

/** A finished CLI run. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The JSON log lines of stdout, parsed (non-JSON lines are left out). */
  logs: Array<Record<string, unknown>>;
}

/** A running CLI process, with its log lines as they arrive. */
export interface CliProcess {
  child: ChildProcess;
  /**
   * Resolves with the first log line whose `msg` is `msg` (and that `where` accepts, when given);
   * rejects if the process ends first.
   */
  waitForLog(
    msg: string,
    timeoutMs?: number,
    where?: (line: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown>>;
  done: Promise<CliResult>;
}

/**
 * Starts `node dist/cli/main.js ...args` with exactly `env` (plus PATH), arguments as an array
 * (no shell). Secrets go in `env`, never in `args`.
 */
export function startCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): CliProcess {
  ensureBuilt();
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  reapLater(child);
  let stdout = '';
  let stderr = '';
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{
    msg: string;
    where: ((l: Record<string, unknown>) => boolean) | undefined;
    resolve: (l: Record<string, unknown>) => void;
  }> = [];
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      const log = parseLine(line);
      if (!log) continue;
      logs.push(log);
      for (const w of waiters.filter((x) => x.msg === log.msg && (x.where?.(log) ?? true))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(log);
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const done = new Promise<CliResult>((resolveDone, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const last = parseLine(pending);
      if (last) logs.push(last);
      resolveDone({ code, signal, stdout, stderr, logs });
    });
  });
  return {
    child,
    done,
    waitForLog(msg, timeoutMs = 30_000, where) {
      const seen = logs.find((l) => l.msg === msg && (where?.(l) ?? true));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolveLog, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no "${msg}" log line within ${timeoutMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          msg,
          where,
          resolve: (l) => {
            clearTimeout(timer);
            resolveLog(l);
          },
        });
        void done.then(() => {
          clearTimeout(timer);
          reject(
            new Error(
              `process ended before a "${msg}" log line; stdout:\n${stdout}\nstderr:\n${stderr}`,
            ),
          );
        });
      });
    },
  };
}

/** Runs the CLI to the end. */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  return startCli(args, options).done;
}

function parseLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
