import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/runtime/logger.js';
import { readTaskMetadata } from '../../src/runtime/read-task-metadata.js';

/**
 * The responses of a Fargate task's metadata endpoint v4 as AWS's documentation shows them
 * ("Amazon ECS task metadata v4 examples for tasks on Fargate"): the container response and
 * the task response. The two examples come from different tasks, as on that page.
 */
const fixture = (name: string) =>
  readFile(new URL(`../fixtures/ecs-task-metadata/${name}`, import.meta.url), 'utf8');
const CONTAINER_RESPONSE = await fixture('fargate-container.json');
const TASK_RESPONSE = await fixture('fargate-task.json');

/** How one path of the endpoint answers. */
type Answer =
  | { status: number; body: string }
  /** Holds the response until the test ends: an agent that never answers. */
  | 'hang';

/** One request the endpoint saw. */
interface Seen {
  path: string;
  /** Resolves when the client closed the connection while the response was still held. */
  closedByClient: Promise<void>;
  res: ServerResponse;
}

interface Endpoint {
  /** The value of `ECS_CONTAINER_METADATA_URI_V4`, as ECS sets it (no trailing slash). */
  uri: string;
  seen: Seen[];
}

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A task metadata endpoint on 127.0.0.1 answering the container and task paths as told. */
async function startEndpoint(answers: { container: Answer; task: Answer }): Promise<Endpoint> {
  const prefix = `/v4/${randomUUID().replaceAll('-', '')}-1234567890`;
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '';
    const answer =
      path === prefix ? answers.container : path === `${prefix}/task` ? answers.task : undefined;
    const closedByClient = new Promise<void>((resolve) => {
      req.socket.on('close', () => {
        if (!res.writableEnded) resolve();
      });
    });
    seen.push({ path: path.slice(prefix.length) || '/', closedByClient, res });
    if (answer === 'hang') return;
    if (answer === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { uri: `http://127.0.0.1:${port}${prefix}`, seen };
}

/** A logger at debug level that keeps every line, parsed. */
function captureLogs() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({
    level: 'debug',
    format: 'json',
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  return { log, lines };
}

/** Every line was a debug line (no warn, no error), and there was at least one. */
function expectOnlyDebug(lines: Array<Record<string, unknown>>) {
  expect(lines.length).toBeGreaterThan(0);
  expect(lines.map((l) => l.level)).toEqual(lines.map(() => 'debug'));
}

const ok = (body: string): Answer => ({ status: 200, body });
const LOCAL = { ecs: false, hostname: hostname() };

/** Reads from an endpoint answering as told, with every log line kept. */
async function readFrom(answers: { container: Answer; task: Answer }, timeoutMs?: number) {
  const endpoint = await startEndpoint(answers);
  const { log, lines } = captureLogs();
  const task = await readTaskMetadata({
    log,
    env: { ECS_CONTAINER_METADATA_URI_V4: endpoint.uri },
    timeoutMs,
  });
  return { task, lines, endpoint };
}

describe('readTaskMetadata', () => {
  it('reads the cluster, task, family, revision, AZ, launch type and container of a Fargate task', async () => {
    const { task, lines, endpoint } = await readFrom({
      container: ok(CONTAINER_RESPONSE),
      task: ok(TASK_RESPONSE),
    });

    expect(task).toEqual({
      ecs: true,
      hostname: hostname(),
      cluster: 'MyEmptyCluster',
      clusterArn: 'arn:aws:ecs:us-east-1:123456789012:cluster/MyEmptyCluster',
      taskArn:
        'arn:aws:ecs:us-east-1:123456789012:task/MyEmptyCluster/bfa2636268144d039771334145e490c5',
      taskId: 'bfa2636268144d039771334145e490c5',
      family: 'sample-fargate',
      revision: '5',
      container: 'curl',
      availabilityZone: 'us-east-1d',
      launchType: 'FARGATE',
    });
    expect(endpoint.seen.map((s) => s.path).sort()).toEqual(['/', '/task']);
    expectOnlyDebug(lines);
    expect(lines.map((l) => l.msg)).toEqual(['task metadata read']);
    // What was read is logged field by field; the responses themselves never are.
    const text = JSON.stringify(lines);
    expect(text).not.toContain('ImageID');
    expect(text).not.toContain('172.31.42.189');
  });

  it('takes a plain cluster name (EC2 launch type) as it is', async () => {
    const ec2Task = JSON.stringify({
      ...JSON.parse(TASK_RESPONSE),
      Cluster: 'default',
      TaskARN: 'arn:aws:ecs:us-west-2:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c',
      LaunchType: 'EC2',
    });
    const { task } = await readFrom({ container: ok(CONTAINER_RESPONSE), task: ok(ec2Task) });

    expect(task).toMatchObject({
      ecs: true,
      cluster: 'default',
      clusterArn: 'default',
      taskId: '158d1c8083dd49d6b527399fd6414f5c',
      launchType: 'EC2',
    });
  });

  it('outside ECS (variable absent or empty) requests nothing and gives the host name', async () => {
    // An endpoint under the v3 variable's name: only v4 is read, so it must see no request.
    const endpoint = await startEndpoint({
      container: ok(CONTAINER_RESPONSE),
      task: ok(TASK_RESPONSE),
    });
    for (const env of [
      { ECS_CONTAINER_METADATA_URI: endpoint.uri },
      { ECS_CONTAINER_METADATA_URI: endpoint.uri, ECS_CONTAINER_METADATA_URI_V4: '' },
    ]) {
      const { log, lines } = captureLogs();
      expect(await readTaskMetadata({ log, env })).toEqual(LOCAL);
      expectOnlyDebug(lines);
    }
    expect(endpoint.seen).toEqual([]);
  });

  it.each([
    ['answering 500', 500, '{"error":"agent restarting"}', 'HTTP 500'],
    ['answering a body that is not JSON', 200, '<html>agent restarting</html>', 'not JSON'],
  ])(
    'an endpoint %s is a debug line and the host name; the body is never quoted',
    async (_, status, body, why) => {
      const answer: Answer = { status, body };
      const { task, lines, endpoint } = await readFrom({ container: answer, task: answer });

      expect(task).toEqual(LOCAL);
      expectOnlyDebug(lines);
      const failure = lines.find(
        (l) => l.msg === 'task metadata not read: running without ECS fields',
      );
      expect(failure).toMatchObject({
        url: `${endpoint.uri}/task`,
        err: { message: expect.stringContaining(why) },
      });
      expect(JSON.stringify(lines)).not.toContain('agent restarting');
    },
  );

  it('an endpoint refusing connections (a closed port) is a debug line and the host name', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const { log, lines } = captureLogs();

    const task = await readTaskMetadata({
      log,
      env: { ECS_CONTAINER_METADATA_URI_V4: `http://127.0.0.1:${port}/v4/closed` },
    });

    expect(task).toEqual(LOCAL);
    expectOnlyDebug(lines);
    expect(JSON.stringify(lines)).toContain('ECONNREFUSED');
  });

  it('an endpoint that never answers is cut at the default timeout: the client closes both requests while the server still holds them', async () => {
    const { task, lines, endpoint } = await readFrom({ container: 'hang', task: 'hang' });

    expect(task).toEqual(LOCAL);
    // The read returned while the server had not answered either request...
    expect(endpoint.seen.map((s) => s.path).sort()).toEqual(['/', '/task']);
    for (const { res } of endpoint.seen) expect(res.headersSent).toBe(false);
    // ...and it was the client that closed them: the hang was cut short, not waited out.
    await Promise.all(endpoint.seen.map((s) => s.closedByClient));
    expectOnlyDebug(lines);
    expect(JSON.stringify(lines)).toContain('no complete answer within 1000 ms');
  });

  it.each([
    ['fails', { status: 503, body: '{}' } as Answer],
    ['never answers', 'hang' as Answer],
  ])(
    'the task response is enough when the container path %s: only the container is left out',
    async (_, container) => {
      const { task, lines } = await readFrom({ container, task: ok(TASK_RESPONSE) }, 300);

      expect(task).toMatchObject({
        ecs: true,
        cluster: 'MyEmptyCluster',
        taskId: 'bfa2636268144d039771334145e490c5',
        family: 'sample-fargate',
        revision: '5',
      });
      expect(task).not.toHaveProperty('container');
      expectOnlyDebug(lines);
      expect(lines.map((l) => l.msg)).toEqual([
        'container metadata not read: running without the container name',
        'task metadata read',
      ]);
    },
  );

  it('an aborted caller signal rejects the read (the caller is stopping)', async () => {
    const endpoint = await startEndpoint({ container: 'hang', task: 'hang' });
    const { log, lines } = captureLogs();
    const env = { ECS_CONTAINER_METADATA_URI_V4: endpoint.uri };
    const stop = new AbortController();
    const reason = new Error('stopping');

    const read = readTaskMetadata({ log, env, signal: stop.signal, timeoutMs: 60_000 });
    // Abort once both requests are held by the server, so the abort cuts them mid-flight.
    while (endpoint.seen.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    stop.abort(reason);

    await expect(read).rejects.toBe(reason);
    await Promise.all(endpoint.seen.map((s) => s.closedByClient));
    await expect(readTaskMetadata({ log, env, signal: stop.signal })).rejects.toBe(reason);
    expect(endpoint.seen).toHaveLength(2);
    expect(lines.filter((l) => l.level !== 'debug')).toEqual([]);
  });
});
