// Runs a tool's command lines under GNU time and returns wall seconds, CPU seconds and peak RSS.
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** GNU time's fields: elapsed s, user s, sys s, max RSS KiB (exact since time 1.8). */
const TIME_FORMAT = '%e %U %S %M';

/** Bytes of a child's stderr kept for the error message when it fails. */
const STDERR_TAIL = 4000;

let sequence = 0;

/** Children of the pipelines running now, so a timeout or Ctrl-C can stop them. */
const active = new Set();

/**
 * Stops every running tool: each child leads its own process group (GNU time and the tool it
 * started), and the whole group gets the signal, so no tool is left running on its own.
 */
export function killActive(signal = 'SIGKILL') {
  for (const child of active) {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/**
 * Runs one pipeline: `commands[0] | commands[1] | ...`, each process under `/usr/bin/time`.
 * The pipes are real kernel pipes handed from one child to the next (no shell, and no byte goes
 * through this process, so the harness costs the tools nothing).
 *
 * @param {{ cmd: string, args: string[], stdin?: 'ignore' | number, stdout?: 'ignore',
 *   stdoutChars?: number }[]} commands
 *   `stdout: 'ignore'` sends the last command's output to /dev/null (the harness reads none of it);
 *   otherwise the last `stdoutChars` characters of it are kept (default 4,000).
 * @param {{ env: NodeJS.ProcessEnv, tmpDir: string, timeBin: string, timeoutMs: number,
 *   cwd?: string, serverPid?: number }} options
 *   `serverPid`: the S3 server's process (MinIO), whose CPU seconds over the run are reported as
 *   `serverCpuSeconds` (it runs on the same cores as the clients).
 * @returns {Promise<{ wallSeconds: number, cpuSeconds: number, peakRssBytes: number,
 *   rssSumBytes: number, serverCpuSeconds?: number,
 *   processes: { cmd: string, cpuSeconds: number, peakRssBytes: number }[] }>}
 *   `peakRssBytes` is the largest single process; `rssSumBytes` adds the processes' peaks, an
 *   upper bound of what the whole pipeline held at once.
 */
export async function runPipeline(commands, options) {
  const serverBefore = await processCpuSeconds(options.serverPid);
  const started = process.hrtime.bigint();
  const children = [];
  let previousStdout;
  for (const [index, command] of commands.entries()) {
    const timeFile = join(options.tmpDir, `time-${process.pid}-${++sequence}.txt`);
    const last = index === commands.length - 1;
    const stdin = previousStdout ?? command.stdin ?? 'ignore';
    const child = spawn(
      options.timeBin,
      ['-f', TIME_FORMAT, '-o', timeFile, command.cmd, ...command.args],
      {
        env: options.env,
        cwd: options.cwd,
        stdio: [stdin, last && command.stdout === 'ignore' ? 'ignore' : 'pipe', 'pipe'],
        detached: true,
      },
    );
    active.add(child);
    child.once('close', () => active.delete(child));
    // The child now has its own copy of the pipe's read end. Close ours at once, in the same
    // tick, so this process never reads a byte meant for the child and a dying reader still
    // gives the writer SIGPIPE.
    if (previousStdout) previousStdout.destroy();
    previousStdout = last ? undefined : child.stdout;
    children.push({
      child,
      timeFile,
      command,
      stderr: collectTail(child.stderr),
      stdout: last && child.stdout ? collectTail(child.stdout, command.stdoutChars) : () => '',
    });
  }

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    for (const { child } of children) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }, options.timeoutMs);
  let results;
  try {
    results = await Promise.all(children.map(({ child }) => exitOf(child)));
  } finally {
    clearTimeout(timer);
  }
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const serverAfter = await processCpuSeconds(options.serverPid);

  const processes = [];
  const failures = [];
  for (const [index, entry] of children.entries()) {
    const { code, signal } = results[index];
    const text = await readFile(entry.timeFile, 'utf8').catch(() => '');
    await rm(entry.timeFile, { force: true });
    // GNU time prefixes "Command exited with non-zero status N" when the command failed.
    const fields = text.trim().split('\n').at(-1)?.split(' ').map(Number) ?? [];
    const [, user = 0, sys = 0, rssKiB = 0] = fields;
    processes.push({
      cmd: entry.command.cmd.split('/').at(-1),
      cpuSeconds: round(user + sys, 2),
      peakRssBytes: rssKiB * 1024,
    });
    if (code !== 0) {
      failures.push(
        `${entry.command.cmd.split('/').at(-1)} ${entry.command.args.slice(0, 3).join(' ')} ` +
          `exited with ${signal ?? code}: ${`${entry.stdout()}\n${entry.stderr()}`.trim().slice(-1500)}`,
      );
    }
  }
  if (timedOut) {
    throw new Error(`command failed:\ntimed out after ${options.timeoutMs / 1000} s (--timeout)`);
  }
  if (failures.length > 0) throw new Error(`command failed:\n${failures.join('\n')}`);
  return {
    wallSeconds: round(wallSeconds, 3),
    cpuSeconds: round(
      processes.reduce((sum, p) => sum + p.cpuSeconds, 0),
      2,
    ),
    peakRssBytes: Math.max(...processes.map((p) => p.peakRssBytes)),
    rssSumBytes: processes.reduce((sum, p) => sum + p.peakRssBytes, 0),
    ...(serverBefore !== undefined &&
      serverAfter !== undefined && { serverCpuSeconds: round(serverAfter - serverBefore, 2) }),
    processes,
    stdout: children.at(-1).stdout(),
  };
}

/** Linux's clock ticks per second, the unit of /proc/<pid>/stat's CPU times. */
const CLOCK_TICKS = 100;

/**
 * User + system CPU seconds `pid` has used so far (its threads included), from /proc; undefined
 * without a pid or when the process is gone.
 */
export async function processCpuSeconds(pid) {
  if (pid === undefined) return undefined;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // Fields after the command name (which may hold spaces, inside parentheses): utime is the
  // 14th field of the line, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * Runs pipelines one after the other (a download then an upload) and adds them up: wall and CPU
 * seconds summed, peak RSS the largest seen.
 */
export async function runSteps(pipelines, options) {
  const total = { wallSeconds: 0, cpuSeconds: 0, peakRssBytes: 0, rssSumBytes: 0, processes: [] };
  for (const commands of pipelines) {
    const one = await runPipeline(commands, options);
    total.wallSeconds = round(total.wallSeconds + one.wallSeconds, 3);
    total.cpuSeconds = round(total.cpuSeconds + one.cpuSeconds, 2);
    total.peakRssBytes = Math.max(total.peakRssBytes, one.peakRssBytes);
    total.rssSumBytes = Math.max(total.rssSumBytes, one.rssSumBytes);
    total.processes.push(...one.processes);
    if (one.serverCpuSeconds !== undefined) {
      total.serverCpuSeconds = round((total.serverCpuSeconds ?? 0) + one.serverCpuSeconds, 2);
    }
    total.stdout = one.stdout;
  }
  return total;
}

function exitOf(child) {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

function collectTail(stream, chars = STDERR_TAIL) {
  let tail = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    tail = (tail + chunk).slice(-chars);
  });
  return () => tail;
}

/** Rounds to `digits` decimals. */
export function round(value, digits) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
