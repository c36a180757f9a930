import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { logCredentialSource } from '../../src/credentials/log-credential-source.js';
import { ExitCode, S3WorkerError } from '../../src/errors.js';
import { createLogger } from '../../src/runtime/logger.js';
import { createS3Client } from '../../src/s3/client.js';
import { explainS3Error } from '../../src/s3/explain-error.js';
import {
  createTaskRoleMinter,
  type EcsCredentialsEndpoint,
  startEcsCredentialsEndpoint,
} from '../support/ecs-credentials-endpoint.js';
import { bucketReadWritePolicy } from '../support/minio-admin.js';
import { adminClient, createTestBucket } from '../support/s3.js';

const MiB = 1024 * 1024;

/** Everything the code under test logs, at debug level, as text. */
function captureLogs() {
  const lines: string[] = [];
  const log = createLogger({
    level: 'debug',
    format: 'json',
    destination: { write: (line: string) => void lines.push(line) },
  });
  return { log, text: () => lines.join('') };
}

/** Records the access key id and signature of every signed request a client sends. */
function recordSignatures(client: S3Client) {
  const used: Array<{ command: string; accessKeyId: string; signature: string }> = [];
  client.middlewareStack.addRelativeTo(
    ((next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) =>
      async (args: { request?: { headers?: Record<string, string> } }) => {
        const auth = args.request?.headers?.authorization ?? '';
        const m = /Credential=([^/]+)\/.*Signature=([0-9a-f]+)/.exec(auth);
        if (m)
          used.push({ command: context.commandName ?? '', accessKeyId: m[1]!, signature: m[2]! });
        return next(args);
      }) as unknown as Parameters<S3Client['middlewareStack']['addRelativeTo']>[0],
    {
      name: 'testRecordSignatures',
      relation: 'after',
      toMiddleware: 'httpSigningMiddleware',
    } as Parameters<S3Client['middlewareStack']['addRelativeTo']>[1],
  );
  return used;
}

/** `total` bytes of 1 MiB chunks, produced no faster than `bytesPerSecond`. */
function rateLimitedBody(total: number, bytesPerSecond: number): Readable {
  const block = randomBytes(MiB);
  const started = Date.now();
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const due = started + (sent / bytesPerSecond) * 1000;
      setTimeout(
        () => {
          sent += block.length;
          // A copy per chunk: the upload may hold chunks while the next is produced.
          this.push(Buffer.from(block));
        },
        Math.max(0, due - Date.now()),
      );
    },
  });
}

describe('credentials from an ECS-like container endpoint (full URI, token file, MinIO STS)', () => {
  const { s3 } = inject('servers');
  const admin = adminClient(s3);
  const signatures: string[] = [];
  const logs = captureLogs();
  let bucket: { name: string; remove: () => Promise<void> };
  let other: { name: string; remove: () => Promise<void> };
  let role: Awaited<ReturnType<typeof createTaskRoleMinter>>;
  let endpoint: EcsCredentialsEndpoint;
  let dir: string;
  let tokenFile: string;
  const token = `token-${randomBytes(12).toString('hex')}`;

  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.url,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_REGION: s3.region,
    ...extra,
  });

  beforeAll(async () => {
    bucket = await createTestBucket(admin, 'creds');
    other = await createTestBucket(admin, 'creds-other');
    await admin.send(new PutObjectCommand({ Bucket: other.name, Key: 'secret.txt', Body: 'x' }));
    role = await createTaskRoleMinter(s3, bucketReadWritePolicy(bucket.name));
    dir = await mkdtemp(join(tmpdir(), 's3worker-creds-'));
    tokenFile = join(dir, 'token');
    await writeFile(tokenFile, token);
    endpoint = await startEcsCredentialsEndpoint({
      token,
      mint: role.mint,
    });
  });

  afterAll(async () => {
    await endpoint?.close();
    await bucket?.remove();
    await other?.remove();
    await role?.remove();
    await rm(dir, { recursive: true, force: true });
    admin.destroy();
  });

  it('lists, writes and reads the policy bucket, logging the source and expiry but no secret', async () => {
    const created = await createS3Client({ credentials: 'container', env: env(), log: logs.log });
    const used = recordSignatures(created.client);
    try {
      expect(created.credentials.source).toBe('container-full-uri');
      expect(created.credentials.expiration).toBeInstanceOf(Date);
      logCredentialSource(logs.log, created);
      const { client } = created;
      await client.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'a.txt', Body: 'hello' }));
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket.name }));
      expect(listed.Contents?.map((o) => o.Key)).toEqual(['a.txt']);
      const got = await client.send(new GetObjectCommand({ Bucket: bucket.name, Key: 'a.txt' }));
      expect(await got.Body?.transformToString()).toBe('hello');
      expect(endpoint.log.filter((e) => e.status === 200)).toHaveLength(1);
      expect(logs.text()).toContain('"credentialSource":"container-full-uri"');
    } finally {
      signatures.push(...used.map((u) => u.signature));
      created.client.destroy();
    }
  });

  it('is denied any access to another bucket, with an error naming action, bucket and key', async () => {
    const { client } = await createS3Client({
      credentials: 'container',
      env: env(),
      log: logs.log,
    });
    try {
      const list = await client.send(new ListObjectsV2Command({ Bucket: other.name })).then(
        () => undefined,
        (err: unknown) => explainS3Error(err, { action: 'ListObjectsV2', bucket: other.name }),
      );
      expect(list?.code).toBe('ACCESS_DENIED');
      expect(list?.exitCode).toBe(ExitCode.AccessDenied);
      expect(list?.message).toBe(`access denied: s3:ListBucket on s3://${other.name}/`);
      expect(list?.hint).toContain(`"Resource": "arn:aws:s3:::${other.name}"`);

      const get = await client
        .send(new GetObjectCommand({ Bucket: other.name, Key: 'secret.txt' }))
        .then(
          () => undefined,
          (err: unknown) =>
            explainS3Error(err, { action: 'GetObject', bucket: other.name, key: 'secret.txt' }),
        );
      expect(get?.code).toBe('ACCESS_DENIED');
      expect(get?.message).toBe(`access denied: s3:GetObject on s3://${other.name}/secret.txt`);
      expect(get?.hint).toContain(`"Action": "s3:GetObject"`);
      expect(get?.hint).toContain(`"Resource": "arn:aws:s3:::${other.name}/secret.txt"`);
      logs.log.debug({ err: get }, 'denied as expected');
    } finally {
      client.destroy();
    }
  });

  it('rejects a wrong token at once: one request, a clear error, exit code 11', async () => {
    const before = endpoint.log.length;
    const wrong = join(dir, 'wrong-token');
    await writeFile(wrong, 'not-the-token');
    const err = await createS3Client({
      credentials: 'container',
      env: env({ AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: wrong }),
      log: logs.log,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3WorkerError);
    expect((err as S3WorkerError).code).toBe('CREDENTIALS_ENDPOINT_REJECTED');
    expect((err as S3WorkerError).exitCode).toBe(ExitCode.CredentialsRejected);
    expect((err as S3WorkerError).message).toContain('answered 401');
    expect(endpoint.log.slice(before).map((e) => e.status)).toEqual([401]);
  });

  it('fails fast on an unreadable token file, without calling the endpoint', async () => {
    const before = endpoint.log.length;
    const err = await createS3Client({
      credentials: 'container',
      env: env({ AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: join(dir, 'missing') }),
    }).catch((e: unknown) => e);
    expect((err as S3WorkerError).code).toBe('CREDENTIALS_TOKEN_FILE_UNREADABLE');
    expect((err as S3WorkerError).exitCode).toBe(ExitCode.NoCredentials);
    expect(endpoint.log.length).toBe(before);
  });

  it('survives the endpoint answering 500 twice, then uses what it hands out', async () => {
    const before = endpoint.log.length;
    endpoint.failNext([500, 500]);
    const created = await createS3Client({ credentials: 'container', env: env(), log: logs.log });
    try {
      expect(endpoint.log.slice(before).map((e) => e.status)).toEqual([500, 500, 200]);
      const out = await created.client.send(new ListObjectsV2Command({ Bucket: bucket.name }));
      expect(out.$metadata.httpStatusCode).toBe(200);
    } finally {
      created.client.destroy();
    }
  });

  it('retries an endpoint that does not answer (timeout), then uses what it hands out', async () => {
    const before = endpoint.log.length;
    endpoint.failNext(['hang']);
    const created = await createS3Client({ credentials: 'container', env: env(), log: logs.log });
    try {
      expect(endpoint.log.slice(before).map((e) => e.status)).toEqual([0, 200]);
      expect(created.credentials.source).toBe('container-full-uri');
      expect(logs.text()).toContain('container credentials endpoint failed, retrying');
    } finally {
      created.client.destroy();
    }
  });

  it('fails fast on a 404 with the clear error', async () => {
    const before = endpoint.log.length;
    endpoint.failAlways(404);
    try {
      const err = await createS3Client({
        credentials: 'container',
        env: env(),
        log: logs.log,
      }).catch((e: unknown) => e);
      expect((err as S3WorkerError).code).toBe('CREDENTIALS_ENDPOINT_REJECTED');
      expect((err as S3WorkerError).exitCode).toBe(ExitCode.CredentialsRejected);
      expect((err as S3WorkerError).hint).toContain('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI');
      expect(endpoint.log.slice(before).map((e) => e.status)).toEqual([404]);
    } finally {
      endpoint.failAlways(undefined);
    }
  });

  it('refreshes credentials several times during a 200 MiB multipart upload, which completes', async () => {
    // The SDK refreshes credentials that expire in less than 5 minutes; reporting 5 min + 2 s
    // makes each set stale 2 s after it was fetched, while MinIO keeps it valid for 15 min.
    const rotating = await startEcsCredentialsEndpoint({
      token,
      reportedLifetimeMs: 5 * 60_000 + 2_000,
      mint: role.mint,
    });
    const created = await createS3Client({
      credentials: 'container',
      env: env({ AWS_CONTAINER_CREDENTIALS_FULL_URI: rotating.url }),
      log: logs.log,
      checksumCalculation: 'WHEN_REQUIRED',
    });
    const used = recordSignatures(created.client);
    try {
      const total = 200 * MiB;
      // At most 20 MiB/s, so the upload lasts at least 10 s on any machine: with credentials
      // stale 2 s after each fetch, that forces several refreshes whatever MinIO's speed.
      const body = rateLimitedBody(total, 20 * MiB);
      const upload = new Upload({
        client: created.client,
        params: { Bucket: bucket.name, Key: 'big.bin', Body: body },
        partSize: 5 * MiB,
        queueSize: 2,
      });
      const fetchedBefore = logs.text().split('aws credentials fetched').length;
      await upload.done();
      const fetched = logs.text().split('aws credentials fetched').length - fetchedBefore;
      const head = await admin.send(new HeadObjectCommand({ Bucket: bucket.name, Key: 'big.bin' }));
      expect(head.ContentLength).toBe(total);
      const handedOut = new Set(
        rotating.log.flatMap((e) => (e.accessKeyId ? [e.accessKeyId] : [])),
      );
      const partKeys = new Set(
        used.filter((u) => u.command === 'UploadPartCommand').map((u) => u.accessKeyId),
      );
      expect(handedOut.size).toBeGreaterThanOrEqual(3);
      expect(partKeys.size).toBeGreaterThanOrEqual(3);
      for (const key of partKeys) expect(handedOut.has(key)).toBe(true);
      // Each refresh is logged (source and expiry only).
      expect(fetched).toBeGreaterThanOrEqual(handedOut.size - 1);
      console.error(
        `[rotation] 200 MiB upload: ${handedOut.size} credential sets handed out, ${partKeys.size} used to sign parts, ${used.filter((u) => u.command === 'UploadPartCommand').length} parts signed`,
      );
    } finally {
      signatures.push(...used.map((u) => u.signature));
      created.client.destroy();
      await rotating.close();
    }
  });

  it('logged nothing, at debug level, that is an access key id, secret, session token or signature', () => {
    const text = logs.text();
    expect(text.length).toBeGreaterThan(0);
    const minted = role.minted;
    expect(minted.length).toBeGreaterThanOrEqual(4);
    expect(signatures.length).toBeGreaterThan(10);
    const leaks = [
      ...minted.flatMap((c) => [c.accessKeyId, c.secretAccessKey, c.sessionToken]),
      ...signatures,
      token,
    ].filter((secret) => text.includes(secret));
    // Counts only: printing a leaked value would leak it again.
    expect(leaks.length).toBe(0);
  });
});
