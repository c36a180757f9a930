import { request } from 'node:http';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { TaskMetadata } from '../jobs/task-metadata.js';

/**
 * How long the whole read may take (both requests, bodies included), in milliseconds: 1 s.
 * The endpoint is the ECS agent on the task's own link-local address; it answers from memory
 * in milliseconds, so a read that takes longer is one that will not answer (wrong address, a
 * variable copied outside ECS, an agent that is restarting). Every job waits for this read
 * before it starts, so its cost is at most this delay once per run; a longer timeout would
 * only delay the start of runs that end up without the fields anyway.
 */
export const TASK_METADATA_TIMEOUT_MS = 1_000;

/**
 * The largest response body read, in bytes (1 MiB). A task response with ten containers is
 * about 20 KiB; the limit only keeps a wrong endpoint from filling memory.
 */
const MAX_BODY_BYTES = 1024 * 1024;

export interface ReadTaskMetadataOptions {
  /** Where `ECS_CONTAINER_METADATA_URI_V4` is read; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Gets one `debug` line: what was read, or why nothing was. Never a warning. */
  log: Logger;
  /** The whole read's limit in ms; default `TASK_METADATA_TIMEOUT_MS` (1 s). */
  timeoutMs?: number;
  /** Aborting it rejects the read with its reason: the caller is stopping. */
  signal?: AbortSignal;
}

/**
 * Where the run is, read once at start from the ECS task metadata endpoint v4: the container
 * response (`${ECS_CONTAINER_METADATA_URI_V4}`, for this container's `Name`) and the task
 * response (`.../task`: cluster, task ARN, family, revision, availability zone, launch type),
 * requested in parallel within one overall `timeoutMs`.
 *
 * Outside ECS (the variable unset or empty) nothing is requested. The task response alone is
 * enough for `ecs: true`; a failing container response only leaves `container` out. Any other
 * failure — connection refused, a non-2xx answer, a body that is not JSON, the timeout — is a
 * `debug` line and the result `{ ecs: false, hostname }`: the fields only decorate logs,
 * metrics and objects, and a run must not fail or warn for their lack. Response bodies are
 * never logged.
 */
export async function readTaskMetadata(options: ReadTaskMetadataOptions): Promise<TaskMetadata> {
  const { log, signal } = options;
  signal?.throwIfAborted();
  const local: TaskMetadata = { ecs: false, hostname: hostname() };
  const base = (options.env ?? process.env).ECS_CONTAINER_METADATA_URI_V4;
  if (base === undefined || base === '') {
    log.debug('no task metadata endpoint (ECS_CONTAINER_METADATA_URI_V4 unset): not on ECS');
    return local;
  }
  const url = base.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? TASK_METADATA_TIMEOUT_MS;

  const inner = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    inner.abort();
  }, timeoutMs);
  // Removed when `inner` aborts in `finally`, so a long-lived caller signal keeps no listener.
  signal?.addEventListener('abort', () => inner.abort(), { once: true, signal: inner.signal });
  let task: PromiseSettledResult<unknown>;
  let container: PromiseSettledResult<unknown>;
  try {
    [task, container] = await Promise.allSettled([
      getJson(`${url}/task`, inner.signal),
      getJson(url, inner.signal),
    ]);
  } finally {
    clearTimeout(timer);
    inner.abort();
  }
  if (signal?.aborted) throw signal.reason;

  // After the timeout the requests fail with our own AbortError; say what happened instead.
  const cut = (reason: unknown) =>
    timedOut ? new Error(`no complete answer within ${timeoutMs} ms`) : reason;
  if (task.status === 'rejected') {
    log.debug(
      { err: cut(task.reason), url: `${url}/task`, timeoutMs },
      'task metadata not read: running without ECS fields',
    );
    return local;
  }
  const fromTask = taskFields(task.value);
  if (fromTask === undefined) {
    log.debug(
      { err: new Error('the task response has no TaskARN'), url: `${url}/task` },
      'task metadata not read: running without ECS fields',
    );
    return local;
  }
  const name = container.status === 'fulfilled' ? containerName(container.value) : undefined;
  if (name === undefined) {
    log.debug(
      {
        err:
          container.status === 'rejected'
            ? cut(container.reason)
            : new Error('the container response has no Name'),
        url,
      },
      'container metadata not read: running without the container name',
    );
  }
  const result: TaskMetadata = {
    ecs: true,
    hostname: local.hostname,
    ...fromTask,
    ...(name === undefined ? {} : { container: name }),
  };
  log.debug(
    {
      cluster: result.cluster,
      taskArn: result.taskArn,
      family: result.family,
      revision: result.revision,
      container: result.container,
    },
    'task metadata read',
  );
  return result;
}

type TaskFields = Omit<TaskMetadata, 'ecs' | 'hostname' | 'container'>;

/** The fields of a `/task` response, or undefined when it names no task. */
function taskFields(body: unknown): TaskFields | undefined {
  if (!isObject(body)) return undefined;
  const taskArn = text(body.TaskARN);
  if (taskArn === undefined) return undefined;
  const clusterArn = text(body.Cluster);
  const fields: TaskFields = {
    taskArn,
    taskId: lastPart(taskArn),
    clusterArn,
    cluster: clusterArn === undefined ? undefined : lastPart(clusterArn),
    family: text(body.Family),
    revision: text(body.Revision),
    availabilityZone: text(body.AvailabilityZone),
    launchType: text(body.LaunchType),
  };
  // Absent fields stay absent rather than present as undefined, so spreads and logs stay clean.
  for (const key of Object.keys(fields) as Array<keyof TaskFields>) {
    if (fields[key] === undefined) delete fields[key];
  }
  return fields;
}

function containerName(body: unknown): string | undefined {
  return isObject(body) ? text(body.Name) : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A non-empty string, or a number as text (`Revision` is a string in the documented examples). */
function text(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `arn:aws:ecs:us-east-1:123:task/cluster/abc` → `abc`; a plain name stays as it is. */
function lastPart(value: string): string {
  return value.slice(value.lastIndexOf('/') + 1);
}

/**
 * GET `url` and parse its JSON body. Its own connection (no keep-alive agent), so nothing is
 * left open after the read and an abort closes the socket at once. Errors never quote the body.
 */
function getJson(url: string, signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let req: ReturnType<typeof request>;
    try {
      req = request(url, {
        method: 'GET',
        agent: false,
        signal,
        headers: { accept: 'application/json' },
      });
    } catch (err) {
      // An address node:http cannot take (not http:, malformed): a failed read like any other.
      reject(err);
      return;
    }
    req.on('error', reject);
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        res.resume();
        reject(new Error(`the endpoint answered HTTP ${status}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          req.destroy(new Error(`the response is larger than ${MAX_BODY_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', reject);
      // A connection cut mid-body may close the response without an error event.
      res.on('close', () => {
        if (!res.complete) reject(new Error('the response ended before its end'));
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          // SyntaxError messages quote the body; say only how much there was.
          reject(new Error(`the response is not JSON (${size} bytes)`));
        }
      });
    });
    req.end();
  });
}
