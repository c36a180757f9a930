import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { onTestFinished } from 'vitest';

/**
 * The engine that runs the image under test: docker when an engine answers (`docker info`),
 * else podman with the settings this kind of machine needs (see scripts/build-image.sh). Set
 * S3WORKER_IMAGE_ENGINE=docker|podman to choose.
 */
export interface ContainerEngine {
  name: 'docker' | 'podman';
  /** Arguments before the subcommand (`podman --runtime runc ...`). */
  global: string[];
  /** Arguments every `run` gets: host network (the test servers listen on loopback), ulimits. */
  runFlags: string[];
}

let chosen: ContainerEngine | undefined;

export function containerEngine(): ContainerEngine {
  if (chosen) return chosen;
  const wanted = process.env.S3WORKER_IMAGE_ENGINE;
  let name: 'docker' | 'podman';
  if (wanted === 'docker' || wanted === 'podman') name = wanted;
  else {
    try {
      execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
      name = 'docker';
    } catch {
      name = 'podman';
    }
  }
  chosen =
    name === 'docker'
      ? { name, global: [], runFlags: ['--network', 'host'] }
      : {
          name,
          // crun refuses a hybrid cgroup layout; raising rlimits is refused in some sandboxes.
          global: ['--runtime', 'runc'],
          runFlags: [
            '--network',
            'host',
            '--ulimit',
            'nofile=4096:4096',
            '--ulimit',
            'nproc=4096:4096',
          ],
        };
  return chosen;
}

/** The images under test, as `npm run image` tags them. */
export const IMAGE = process.env.S3WORKER_IMAGE ?? 's3worker:latest';
export const CORE_IMAGE = process.env.S3WORKER_CORE_IMAGE ?? 's3worker:core';

/** What a finished engine command printed. */
export interface EngineResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Variables added to the engine process's own environment. A secret reaches a container as
 * `-e NAME` (no `=value`): the engine copies NAME's value from its environment, so the value
 * never appears in argv.
 */
export type EngineEnv = Record<string, string>;

function engineEnv(env: EngineEnv | undefined): NodeJS.ProcessEnv {
  return env ? { ...process.env, ...env } : process.env;
}

/**
 * Runs `<engine> <args>` to its end (argument array, no shell), bounded by `timeoutMs`, with
 * `env` added to the engine's environment. Lines podman prints about systemd health-check
 * timers (there is no systemd here) are left out of stderr.
 */
export function engine(
  args: readonly string[],
  options: { input?: string; timeoutMs?: number; env?: EngineEnv } = {},
): Promise<EngineResult> {
  const e = containerEngine();
  return new Promise((resolve, reject) => {
    const child = spawn(e.name, [...e.global, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: engineEnv(options.env),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr: withoutSystemdNoise(stderr) });
    });
    child.stdin.end(options.input ?? '');
  });
}

function withoutSystemdNoise(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/unable to get systemd connection/.test(l))
    .join('\n');
}

/** A unique container name for this test; the container is removed when the test finishes. */
export function containerName(tag: string): string {
  const name = `s3worker-test-${tag}-${randomBytes(4).toString('hex')}`;
  onTestFinished(async () => {
    await engine(['rm', '-f', '-v', name], { timeoutMs: 60_000 }).catch(() => {});
  });
  return name;
}

/**
 * `run --rm` of `image` with `runArgs` (options before the image) and `args` (the s3worker
 * command), to its end; `env` is added to the engine's environment (for `-e NAME`), `network`
 * replaces the host network.
 */
export function runImage(
  runArgs: readonly string[],
  args: readonly string[],
  options: {
    image?: string;
    input?: string;
    timeoutMs?: number;
    env?: EngineEnv;
    network?: string;
  } = {},
): Promise<EngineResult> {
  return engine(
    [
      'run',
      '--rm',
      '-i',
      ...runFlags(options.network),
      ...runArgs,
      options.image ?? IMAGE,
      ...args,
    ],
    options,
  );
}

/**
 * The engine's `run` flags, with `network` (a `--network` value such as
 * `ns:/run/netns/<name>`) in place of the host network when given.
 */
function runFlags(network: string | undefined): string[] {
  const flags = [...containerEngine().runFlags];
  if (network === undefined) return flags;
  const at = flags.indexOf('--network');
  if (at >= 0) flags.splice(at, 2);
  return ['--network', network, ...flags];
}

/** A container started in the background (`run` without `--rm`, so its exit code stays). */
export interface StartedContainer {
  name: string;
  /** The engine's `run` process (it ends when the container does). */
  child: ChildProcess;
  /** Everything the container printed so far. */
  output(): string;
  /** Resolves with the container's exit code. */
  exited: Promise<number | null>;
}

/**
 * Starts `image` in the background, named for this test and removed when it finishes; `env` is
 * added to the engine's environment (for `-e NAME`), `network` replaces the host network.
 */
export function startImage(
  tag: string,
  runArgs: readonly string[],
  args: readonly string[],
  options: { image?: string; env?: EngineEnv; network?: string } = {},
): StartedContainer {
  const e = containerEngine();
  const name = containerName(tag);
  const child = spawn(
    e.name,
    [
      ...e.global,
      'run',
      '--name',
      name,
      ...runFlags(options.network),
      ...runArgs,
      options.image ?? IMAGE,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: engineEnv(options.env) },
  );
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => resolve(code)),
  );
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { name, child, output: () => out, exited };
}

/**
 * Waits until `predicate` holds, checking every `intervalMs`, for at most `timeoutMs`; throws
 * with `what` when it never does.
 */
export async function waitUntil(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  { timeoutMs = 60_000, intervalMs = 200 } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
