import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { getBytes, listKeys, putObjects } from '../fixtures/stream-transform/harness.js';
import {
  createTaskRoleMinter,
  type EcsCredentialsEndpoint,
  startEcsCredentialsEndpoint,
} from '../support/ecs-credentials-endpoint.js';
import { bucketReadWritePolicy } from '../support/minio-admin.js';
import { adminClient, createTestBucket } from '../support/s3.js';
import { runImage } from './support/container-engine.js';
import { gzipArgs, logLine, passByName } from './support/worker-run.js';

/** Runs a program with an argument array (never a shell); resolves stdout, rejects with stderr. */
function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err)
        reject(new Error(`${file} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * The namespace's side of two bridges, run in it with `ip netns exec`: 169.254.170.2:80 (where
 * the SDK finds AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) and a port on the namespace's loopback
 * (the S3 endpoint) each forward to a Unix socket, the one way out of the namespace. It prints
 * the S3 port, and exits when its stdin closes.
 */
const NAMESPACE_BRIDGE = `
import { createConnection, createServer } from 'node:net';
const [credentialsSocket, s3Socket] = process.argv.slice(2);
const toSocket = (path) => (socket) => {
  const up = createConnection(path);
  socket.pipe(up).pipe(socket);
  up.on('error', () => socket.destroy());
  socket.on('error', () => up.destroy());
};
const listen = (server, port, host) =>
  new Promise((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
await listen(createServer(toSocket(credentialsSocket)), 80, '169.254.170.2');
const s3 = createServer(toSocket(s3Socket));
await listen(s3, 0, '127.0.0.1');
process.stdout.write(JSON.stringify({ s3Port: s3.address().port }) + '\\n');
process.stdin.on('data', () => {}).on('end', () => process.exit(0));
`;

/** A Unix socket at `path` whose connections are piped to TCP `host:port` (host side). */
async function unixToTcp(path: string, host: string, port: number): Promise<Server> {
  const server = createServer((socket) => {
    const up = createConnection({ host, port });
    socket.pipe(up).pipe(socket);
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

describe('the ECS task role in the image: relative URI at 169.254.170.2, in a network namespace', () => {
  const { s3 } = inject('servers');
  const admin = adminClient(s3);
  const ns = `s3w-img-${randomBytes(4).toString('hex')}`;
  let nsCreated = false;
  let dir: string;
  let bucket: { name: string; remove: () => Promise<void> };
  let other: { name: string; remove: () => Promise<void> };
  let role: Awaited<ReturnType<typeof createTaskRoleMinter>>;
  let endpoint: EcsCredentialsEndpoint;
  const hostBridges: Server[] = [];
  let bridge: ChildProcess | undefined;
  let s3Port: number;

  beforeAll(async () => {
    bucket = await createTestBucket(admin, 'img-rel');
    other = await createTestBucket(admin, 'img-rel-other');
    await admin.send(new PutObjectCommand({ Bucket: other.name, Key: 'in/secret.txt', Body: 'x' }));
    role = await createTaskRoleMinter(s3, bucketReadWritePolicy(bucket.name));
    endpoint = await startEcsCredentialsEndpoint({ mint: role.mint });
    dir = mkdtempSync(join(tmpdir(), 's3worker-image-netns-'));
    // The namespace has only its own loopback: nothing sent to 169.254.170.2 in it can leave it,
    // and the host network never gets that address.
    await run('ip', ['netns', 'add', ns]).catch((err: Error) => {
      throw new Error(
        `this test needs to create a network namespace (root or CAP_NET_ADMIN, iproute2): ${err.message}`,
      );
    });
    nsCreated = true;
    await run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    await run('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', '169.254.170.2/32', 'dev', 'lo']);
    const endpointPort = Number(new URL(endpoint.url).port);
    const minio = new URL(s3.endpoint);
    hostBridges.push(
      await unixToTcp(join(dir, 'credentials.sock'), '127.0.0.1', endpointPort),
      await unixToTcp(join(dir, 's3.sock'), minio.hostname, Number(minio.port)),
    );
    const script = join(dir, 'bridge.mjs');
    writeFileSync(script, NAMESPACE_BRIDGE);
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns,
        process.execPath,
        script,
        join(dir, 'credentials.sock'),
        join(dir, 's3.sock'),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    bridge = child;
    s3Port = await new Promise<number>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        err += d;
      });
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const line = out.split('\n')[0];
        if (out.includes('\n')) resolve((JSON.parse(line!) as { s3Port: number }).s3Port);
      });
      child.once('close', (code) => reject(new Error(`namespace bridge exited ${code}: ${err}`)));
    });
  });

  afterAll(async () => {
    if (bridge && bridge.exitCode === null) {
      const closed = new Promise((resolve) => bridge!.once('close', resolve));
      bridge.stdin!.end();
      await closed;
    }
    for (const server of hostBridges) server.close();
    if (nsCreated) await run('ip', ['netns', 'del', ns]);
    const left = await run('ip', ['netns', 'list']);
    await endpoint?.close();
    await bucket?.remove();
    await other?.remove();
    await role?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
    admin.destroy();
    expect(left).not.toContain(ns);
  });

  const taskEnv = () => ({
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: endpoint.path,
    AWS_REGION: s3.region,
  });
  const transform = (input: string, output: string) =>
    gzipArgs(input, output, ['--endpoint', `http://127.0.0.1:${s3Port}`]);
  const secrets = () =>
    role.minted.flatMap((c) => [c.accessKeyId, c.secretAccessKey, c.sessionToken]);

  it('resolves the task role at 169.254.170.2, works in its bucket and is denied another', async () => {
    const inputs = [
      { key: 'in/a.log', body: Buffer.from('from the namespace\n'.repeat(500)) },
      { key: 'in/b.log', body: randomBytes(64 * 1024) },
    ];
    await putObjects(admin, bucket.name, inputs);
    const network = `ns:/run/netns/${ns}`;
    const ok = await runImage(
      passByName(Object.keys(taskEnv())),
      transform(`s3://${bucket.name}/in/`, `s3://${bucket.name}/out/`),
      { env: taskEnv(), network },
    );
    expect(ok.code, ok.stdout + ok.stderr).toBe(ExitCode.Success);
    expect(logLine(ok.stdout, 'aws credentials resolved')).toMatchObject({
      credentialSource: 'container-relative-uri',
    });
    expect(endpoint.log.map((e) => e.status)).toEqual([200]);
    for (const input of inputs) {
      const out = await getBytes(admin, bucket.name, `out/${input.key.slice(3)}.gz`);
      expect(gunzipSync(out).equals(input.body), input.key).toBe(true);
    }

    const denied = await runImage(
      passByName(Object.keys(taskEnv())),
      transform(`s3://${other.name}/in/`, `s3://${bucket.name}/out-denied/`),
      { env: taskEnv(), network },
    );
    expect(denied.code, denied.stdout + denied.stderr).toBe(ExitCode.AccessDenied);
    expect(
      logLine(denied.stdout, `access denied: s3:ListBucket on s3://${other.name}/in/`),
    ).toMatchObject({ code: 'ACCESS_DENIED' });
    expect(await listKeys(admin, bucket.name, 'out-denied/')).toEqual([]);
    const leaks = secrets().filter((s) =>
      [ok.stdout, ok.stderr, denied.stdout, denied.stderr].some((text) => text.includes(s)),
    );
    expect(leaks.length).toBe(0);
  });

  it('the host network has no 169.254.170.2 (only the namespace has it)', async () => {
    expect(await run('ip', ['-o', 'addr', 'show'])).not.toContain('169.254.170.2');
    expect(
      await run('ip', ['netns', 'exec', ns, 'ip', '-o', 'addr', 'show', 'dev', 'lo']),
    ).toContain('169.254.170.2/32');
  });
});
