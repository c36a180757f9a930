import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { ExitCode, S3WorkerError } from '../../errors.js';
import type { ToolOutput } from './tool-output.js';

/** A database tool to run: an absolute path, an argument array (no shell) and its whole environment. */
export interface ToolCommand {
  /** Short name for messages and logs (`pg_dump`). */
  tool: string;
  command: string;
  args: string[];
  /** The complete environment of the child: nothing of the parent's leaks in (no PGPASSWORD). */
  env: Record<string, string>;
  /**
   * This process's descriptor of the tool's secret file, which the tool inherits as its
   * descriptor 3 (see `SecretFile`); undefined: none.
   */
  secretFd?: number | undefined;
}

/** How a tool ended. */
export interface ToolExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A started tool. */
export interface RunningTool {
  readonly child: ChildProcess;
  /** The tool's stdout, or null when it went to a {@link ToolOutput}. */
  readonly stdout: Readable | null;
  readonly stdin: Writable | null;
  /** Settles when the process has exited and its pipes closed; never rejects. */
  readonly exited: Promise<ToolExit>;
  /** The last lines the tool wrote to stderr, with every secret replaced. */
  stderrTail(): string;
  /** SIGTERM now, SIGKILL 5 s later if it is still there. Idempotent. */
  kill(): void;
}

/** Bytes of stderr kept per tool: enough for its error, bounded whatever it prints. */
const STDERR_KEEP = 16 * 1024;
const KILL_GRACE_MS = 5_000;

/** Options of {@link startTool}. */
export interface StartToolOptions {
  /** Give the tool a stdin pipe (`RunningTool.stdin`). Default: none. */
  stdin?: boolean;
  /** Where the tool's stdout goes; default a pipe (`RunningTool.stdout`). */
  stdout?: ToolOutput;
  /** Kills the tool. */
  signal?: AbortSignal;
  /** Masked in the stderr kept for errors. */
  secrets?: readonly string[];
  /**
   * Sees each line of stderr (without its newline) and returns what of it may be kept for the
   * error message, or undefined to keep nothing: for a tool whose stderr can hold what must
   * never reach a log (psql echoing a failed statement). Default: every line is kept.
   */
  stderrLine?: (line: string) => string | undefined;
}

/**
 * Starts `cmd` with an argument array (never a shell). stderr is kept (bounded) for the error
 * message; `secrets` are masked in it. `signal` kills the tool.
 */
export function startTool(cmd: ToolCommand, options: StartToolOptions = {}): RunningTool {
  const child = spawn(cmd.command, cmd.args, {
    env: cmd.env,
    stdio: [
      options.stdin ? 'pipe' : 'ignore',
      options.stdout?.childEnd ?? 'pipe',
      'pipe',
      ...(cmd.secretFd !== undefined ? [cmd.secretFd] : []),
    ],
    shell: false,
  });
  options.stdout?.handedOver();
  let stderr = '';
  const keep = (text: string) => {
    stderr += text;
    if (stderr.length > STDERR_KEEP * 2) stderr = stderr.slice(-STDERR_KEEP);
  };
  const { stderrLine } = options;
  if (stderrLine === undefined) {
    child.stderr!.setEncoding('utf8').on('data', keep);
  } else {
    let partial = '';
    const pass = (line: string) => {
      const kept = stderrLine(line);
      if (kept !== undefined) keep(`${kept}\n`);
    };
    child
      .stderr!.setEncoding('utf8')
      .on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop()!;
        for (const line of lines) pass(line);
        // A line longer than what is kept goes on in pieces: memory stays bounded.
        if (partial.length > STDERR_KEEP) {
          pass(partial);
          partial = '';
        }
      })
      .once('end', () => {
        if (partial !== '') pass(partial);
        partial = '';
      });
  }
  const exited = new Promise<ToolExit>((resolve) => {
    child.once('error', (err) => {
      stderr += `\n${cmd.tool}: ${(err as NodeJS.ErrnoException).code ?? err.message}`;
      resolve({ code: null, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  let killTimer: NodeJS.Timeout | undefined;
  const kill = () => {
    if (child.exitCode !== null || child.signalCode !== null || killTimer !== undefined) return;
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    killTimer.unref();
  };
  void exited.then(() => clearTimeout(killTimer));
  const { signal } = options;
  if (signal?.aborted) kill();
  else signal?.addEventListener('abort', kill, { once: true });
  void exited.then(() => signal?.removeEventListener('abort', kill));
  return {
    child,
    stdout: child.stdout,
    stdin: child.stdin,
    exited,
    stderrTail: () => maskSecrets(lastLines(stderr, 12), options.secrets ?? []),
    kill,
  };
}

/**
 * Runs a short query-like command to the end and returns its stdout (at most `maxBytes`).
 * @throws S3WorkerError `DB_TOOL_FAILED` with the tool's stderr when it exits non-zero.
 */
export async function runTool(
  cmd: ToolCommand,
  options: { signal?: AbortSignal; secrets?: readonly string[]; maxBytes?: number } = {},
): Promise<string> {
  const tool = startTool(cmd, options);
  const maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
  const chunks: Buffer[] = [];
  let size = 0;
  tool.stdout!.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= maxBytes) chunks.push(chunk);
    else tool.kill();
  });
  const exit = await tool.exited;
  options.signal?.throwIfAborted();
  if (exit.code !== 0) throw toolFailed(cmd.tool, exit, tool.stderrTail());
  if (size > maxBytes) {
    throw new S3WorkerError(`${cmd.tool} printed more than ${maxBytes} bytes`, {
      code: 'DB_TOOL_FAILED',
      exitCode: ExitCode.ObjectsFailed,
      context: { tool: cmd.tool },
    });
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The error for a tool that exited non-zero (or was killed), with its own words. */
export function toolFailed(tool: string, exit: ToolExit, stderr: string): S3WorkerError {
  const how =
    exit.signal !== null
      ? `was killed by ${exit.signal}`
      : exit.code === null
        ? 'could not be started'
        : `exited with code ${exit.code}`;
  const said = stderr.trim() === '' ? '' : `: ${stderr.trim()}`;
  return new S3WorkerError(`${tool} ${how}${said}`, {
    code: 'DB_TOOL_FAILED',
    exitCode: ExitCode.ObjectsFailed,
    context: { tool, exitCode: exit.code, signal: exit.signal },
    hint: hintFor(stderr),
  });
}

function hintFor(stderr: string): string {
  if (/password authentication failed|Access denied for user|no password supplied/i.test(stderr)) {
    return 'check the database user and password (PGPASSWORD/MYSQL_PWD, --password-file or the URL variable)';
  }
  if (/could not connect|Connection refused|Can't connect|could not translate host/i.test(stderr)) {
    return 'check the database host and port, and that the task can reach it';
  }
  if (/does not exist|Unknown database/i.test(stderr)) {
    return 'check the database name; s3worker passes names verbatim (case and spaces matter)';
  }
  if (/server version|version mismatch/i.test(stderr)) {
    return 'use a client at least as new as the server (--pg-bin-dir)';
  }
  return 'see the tool message above; fix it and run again (nothing was kept from this attempt)';
}

function lastLines(text: string, n: number): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')
    .slice(-n)
    .join('\n');
}

/** `text` with every secret (of at least 4 characters) replaced by `[redacted]`. */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}
