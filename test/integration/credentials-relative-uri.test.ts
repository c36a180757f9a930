import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createTaskRoleMinter,
  type MintedCredentials,
} from '../support/ecs-credentials-endpoint.js';
import { bucketReadWritePolicy } from '../support/minio-admin.js';
import { adminClient, createTestBucket } from '../support/s3.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs a program with an argument array (never a shell); resolves stdout, rejects with stderr. */
function run(file: string, args: string[], stdin = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: 60_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err)
          reject(new Error(`${file} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      },
    );
    // A program that exits without reading stdin closes the pipe: that is not a failure here.
    child.stdin?.on('error', () => {});
    child.stdin?.end(stdin);
  });
}

/**
 * What runs inside the namespace, as the task would: the ECS-like endpoint on
 * 169.254.170.2:80, a TCP bridge from the namespace's own loopback to MinIO (through a Unix
 * socket, the only way out of the namespace), and the worker's client on
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI. Secrets come on stdin; stdout carries no secret.
 */
const CHILD = `
import { registerHooks } from 'node:module';
import { createServer, createConnection } from 'node:net';
import { Writable } from 'node:stream';
// The sources import each other as .js (NodeNext); Node strips the types of the .ts files.
registerHooks({
  resolve(specifier, context, next) {
    try { return next(specifier, context); } catch (err) {
      if (specifier.startsWith('.') && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context);
      // This script lives in a temporary directory: packages come from the repository.
      if (!specifier.startsWith('.') && !specifier.startsWith('node:')) return next(specifier, { ...context, parentURL: process.env.S3WORKER_REPO_URL });
      throw err;
    }
  },
});
const input = JSON.parse(await new Promise((resolve) => { let t = ''; process.stdin.on('data', (d) => (t += d)).on('end', () => resolve(t)); }));
const root = input.root;
const { startEcsCredentialsEndpoint } = await import(root + 'test/support/ecs-credentials-endpoint.ts');
const { createS3Client } = await import(root + 'src/s3/client.ts');
const { explainS3Error } = await import(root + 'src/s3/explain-error.ts');
const { createLogger } = await import(root + 'src/runtime/logger.ts');
const { ListObjectsV2Command, PutObjectCommand } = await import('@aws-sdk/client-s3');

const bridge = createServer((socket) => { const up = createConnection(input.socket); socket.pipe(up).pipe(socket); up.on('error', () => socket.destroy()); socket.on('error', () => up.destroy()); });
await new Promise((resolve) => bridge.listen(0, '127.0.0.1', resolve));
const queue = input.credentials.map((c) => ({ ...c, expiration: new Date(c.expiration) }));
const endpoint = await startEcsCredentialsEndpoint({ host: '169.254.170.2', port: 80, mint: async () => queue.shift() });
let logText = '';
const log = createLogger({ level: 'debug', format: 'json', destination: new Writable({ write(chunk, _e, cb) { logText += chunk; cb(); } }) });
const out = {};
try {
  const created = await createS3Client({
    log,
    env: { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: endpoint.path, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:' + bridge.address().port, AWS_REGION: 'us-east-1' },
  });
  out.source = created.credentials.source;
  await created.client.send(new PutObjectCommand({ Bucket: input.bucket, Key: 'from-namespace.txt', Body: 'written inside the namespace' }));
  const listed = await created.client.send(new ListObjectsV2Command({ Bucket: input.bucket }));
  out.keys = (listed.Contents ?? []).map((o) => o.Key);
  out.denied = await created.client.send(new ListObjectsV2Command({ Bucket: input.other })).then(() => 'allowed', (err) => explainS3Error(err, { action: 'ListObjectsV2', bucket: input.other }).code);
  created.client.destroy();
} catch (err) {
  out.error = String(err?.message ?? err);
}
out.endpointStatuses = endpoint.log.map((e) => e.status);
out.leaks = input.credentials.flatMap((c) => [c.accessKeyId, c.secretAccessKey, c.sessionToken]).filter((s) => logText.includes(s)).length;
out.logLines = logText.split('\\n').filter(Boolean).length;
await endpoint.close();
bridge.close();
process.stdout.write(JSON.stringify(out));
`;

describe('credentials from the ECS relative URI (169.254.170.2), inside a network namespace the test creates', () => {
  const { s3 } = inject('servers');
  const admin = adminClient(s3);
  const ns = `s3w-${randomBytes(4).toString('hex')}`;
  let nsCreated = false;
  let dir: string;
  let bridge: Server;
  let bucket: { name: string; remove: () => Promise<void> };
  let other: { name: string; remove: () => Promise<void> };
  let role: Awaited<ReturnType<typeof createTaskRoleMinter>>;

  beforeAll(async () => {
    bucket = await createTestBucket(admin, 'relative');
    other = await createTestBucket(admin, 'relative-other');
    role = await createTaskRoleMinter(s3, bucketReadWritePolicy(bucket.name));
    dir = await mkdtemp(join(tmpdir(), 's3worker-netns-'));
    // The namespace has only its own loopback: nothing sent to 169.254.170.2 in it can leave it.
    await run('ip', ['netns', 'add', ns]).catch((err: Error) => {
      throw new Error(
        `this test needs to create a network namespace (root or CAP_NET_ADMIN, iproute2): ${err.message}`,
      );
    });
    nsCreated = true;
    await run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    await run('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', '169.254.170.2/32', 'dev', 'lo']);
    // MinIO listens on the host's loopback; a Unix socket is reachable from both namespaces.
    const minio = new URL(s3.endpoint);
    bridge = createServer((socket) => {
      const up = createConnection({ host: minio.hostname, port: Number(minio.port) });
      socket.pipe(up).pipe(socket);
      up.on('error', () => socket.destroy());
      socket.on('error', () => up.destroy());
    });
    await new Promise<void>((resolve) => bridge.listen(join(dir, 'minio.sock'), resolve));
  });

  afterAll(async () => {
    bridge?.close();
    if (nsCreated) await run('ip', ['netns', 'del', ns]);
    const left = await run('ip', ['netns', 'list']);
    await bucket?.remove();
    await other?.remove();
    await role?.remove();
    await rm(dir, { recursive: true, force: true });
    admin.destroy();
    expect(left).not.toContain(ns);
  });

  it('resolves the task role through the relative URI, works in its bucket, is denied elsewhere', async () => {
    const credentials: MintedCredentials[] = [await role.mint(), await role.mint()];
    const script = join(dir, 'child.mjs');
    await writeFile(script, CHILD);
    const stdout = await run(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'env',
        `S3WORKER_REPO_URL=${pathToFileURL(join(ROOT, 'package.json')).href}`,
        process.execPath,
        '--no-warnings',
        script,
      ],
      JSON.stringify({
        root: ROOT,
        socket: join(dir, 'minio.sock'),
        bucket: bucket.name,
        other: other.name,
        credentials,
      }),
    );
    const out = JSON.parse(stdout) as {
      source?: string;
      keys?: string[];
      denied?: string;
      error?: string;
      endpointStatuses: number[];
      leaks: number;
      logLines: number;
    };
    expect(out.error).toBeUndefined();
    expect(out.source).toBe('container-relative-uri');
    expect(out.keys).toEqual(['from-namespace.txt']);
    expect(out.denied).toBe('ACCESS_DENIED');
    expect(out.endpointStatuses).toEqual([200]);
    expect(out.logLines).toBeGreaterThan(0);
    expect(out.leaks).toBe(0);
    // What the worker wrote inside the namespace is really in MinIO.
    const got = await admin.send(
      new GetObjectCommand({ Bucket: bucket.name, Key: 'from-namespace.txt' }),
    );
    expect(await got.Body?.transformToString()).toBe('written inside the namespace');
  });

  it('the host network has no 169.254.170.2 of its own (the test never put one there)', async () => {
    const addrs = await run('ip', ['-o', 'addr', 'show']);
    expect(addrs).not.toContain('169.254.170.2');
    expect(
      await run('ip', ['netns', 'exec', ns, 'ip', '-o', 'addr', 'show', 'dev', 'lo']),
    ).toContain('169.254.170.2/32');
  });
});
