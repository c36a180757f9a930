import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { HttpResponse } from '@smithy/core/protocols';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { describe, expect, inject, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { isPayloadUnsigned } from '../../src/s3/payload-signing.js';
import type { DirectRequests } from '../../src/transfer/direct-requests.js';
import { Transfer } from '../../src/transfer/transfer.js';
import { countSdkCommands } from '../support/count-sdk-commands.js';
import { FlipFirstByte } from '../support/fault-handlers.js';
import { adminClient } from '../support/s3.js';
import { useTestBucket } from '../support/test-bucket.js';

const MiB = 1024 * 1024;

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Answers the first `count` requests with `status` itself, without sending them. */
class FailFirst extends NodeHttpHandler {
  failed = 0;
  /** Every request the client sent through this handler. */
  requests = 0;
  constructor(
    private readonly count: number,
    private readonly status: number,
  ) {
    super();
  }
  override async handle(...args: Parameters<NodeHttpHandler['handle']>) {
    this.requests += 1;
    if (this.failed < this.count) {
      this.failed += 1;
      const body = Readable.from([Buffer.from('<Error><Code>SlowDown</Code></Error>')]);
      return { response: new HttpResponse({ statusCode: this.status, headers: {}, body }) };
    }
    return super.handle(...args);
  }
}

describe('direct GetObject/PutObject of small objects against MinIO', () => {
  const servers = inject('servers');
  const bucket = useTestBucket(servers.s3, 'direct');
  /** SDK commands sent by the client under test, by name. */
  const sdkCommands = new Map<string, number>();
  /** The transfer of each client a test made with direct requests on. */
  const transfers = new Map<S3Client, Transfer>();
  /** The client's direct transfer, or an SDK-only one for a plain client. */
  const transferOf = (client: S3Client): Transfer =>
    transfers.get(client) ?? new Transfer(client, { directRequests: false });

  /** A root-key client for the code under test, its SDK commands counted, direct requests on. */
  function directClient(
    handler?: NodeHttpHandler,
    unsignedPayload = false,
    retryWindow?: number,
  ): { client: S3Client; direct: DirectRequests } {
    const client = adminClient(servers.s3, handler ? { requestHandler: handler } : {});
    countSdkCommands(client, sdkCommands);
    const transfer = new Transfer(client, {
      unsignedPayload,
      ...(retryWindow === undefined ? {} : { retryWindow }),
    });
    transfers.set(client, transfer);
    return { client, direct: transfer.direct! };
  }

  function upload(client: S3Client, key: string, body: Buffer, extra: object = {}) {
    return transferOf(client).upload({
      bucket: bucket.name,
      key,
      body: Readable.from([body]),
      ...extra,
    });
  }

  function download(client: S3Client, key: string, size: number, etag?: string) {
    return readAll(
      transferOf(client).download({
        bucket: bucket.name,
        key,
        size,
        ...(etag ? { etag } : {}),
      }),
    );
  }

  it('writes and reads objects with no SDK command, byte-identical, with the same headers as the SDK writes', async () => {
    sdkCommands.clear();
    const { client, direct } = directClient();
    const body = randomBytes(300 * 1024);
    const options = {
      contentType: 'application/x-test',
      contentEncoding: 'gzip',
      metadata: { 's3worker-source-key': 'a%2Fb', color: 'blue' },
      tags: { team: 'data ops', 'cost/center': '42+1' },
      storageClass: 'STANDARD' as const,
      ifNoneMatch: true,
    };
    const written = await upload(client, 'direct/one.bin', body, options);
    expect(written).toMatchObject({ bytes: body.length, parts: 1 });
    expect(written.etag).toMatch(/^"[0-9a-f]{32}"$/);
    // The same write through the SDK, for comparison.
    const sdkOnly = adminClient(servers.s3);
    await upload(sdkOnly, 'direct/sdk.bin', body, options);

    const read = await download(client, 'direct/one.bin', body.length, written.etag);
    expect(sha256(read)).toBe(sha256(body));
    expect(direct.stats).toEqual({ direct: 2, viaSdk: 0 });
    expect(sdkCommands.get('PutObjectCommand')).toBeUndefined();
    expect(sdkCommands.get('GetObjectCommand')).toBeUndefined();

    const head = (key: string) =>
      bucket.admin.send(
        new HeadObjectCommand({ Bucket: bucket.name, Key: key, ChecksumMode: 'ENABLED' }),
      );
    const tags = async (key: string) =>
      (await bucket.admin.send(new GetObjectTaggingCommand({ Bucket: bucket.name, Key: key })))
        .TagSet;
    const [a, b] = await Promise.all([head('direct/one.bin'), head('direct/sdk.bin')]);
    for (const field of [
      'ContentType',
      'ContentEncoding',
      'Metadata',
      'ChecksumCRC32',
      'ETag',
    ] as const) {
      expect(a[field], field).toEqual(b[field]);
    }
    expect(a.Metadata).toEqual({ 's3worker-source-key': 'a%2Fb', color: 'blue' });
    expect(a.ChecksumCRC32).toBeDefined();
    expect(await tags('direct/one.bin')).toEqual(await tags('direct/sdk.bin'));
    expect(await tags('direct/one.bin')).toHaveLength(2);
    client.destroy();
    sdkOnly.destroy();
  });

  it('maps keys with spaces, unicode, reserved characters and dots to the same objects as the SDK', async () => {
    const { client, direct } = directClient();
    const keys = [
      'tricky/with space.txt',
      'tricky/ünï cødé/名前.txt',
      "tricky/a+b%20c!'()*&$=;:@,?#[].txt",
      'tricky/x..y/.hidden~tilde.txt',
      'tricky/already%2Fescaped%20name.txt',
    ];
    for (const [i, key] of keys.entries()) {
      const body = Buffer.from(`object ${i}: ${key}`);
      await upload(client, key, body);
      // Read back through the SDK alone: the direct PUT wrote exactly this key.
      const got = await bucket.admin.send(new GetObjectCommand({ Bucket: bucket.name, Key: key }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).toString(), key).toBe(
        body.toString(),
      );
      expect((await download(client, key, body.length)).toString(), key).toBe(body.toString());
    }
    expect(direct.stats).toEqual({ direct: keys.length * 2, viaSdk: 0 });
    client.destroy();
  });

  it('sends a refused write through the SDK, which explains it: OBJECT_EXISTS under If-None-Match', async () => {
    const { client, direct } = directClient();
    await upload(client, 'exists/a.bin', randomBytes(1000), { ifNoneMatch: true });
    await expect(
      upload(client, 'exists/a.bin', randomBytes(1000), { ifNoneMatch: true }),
    ).rejects.toMatchObject({ code: 'OBJECT_EXISTS' });
    expect(direct.stats).toEqual({ direct: 1, viaSdk: 1 });
    client.destroy();
  });

  it('sends a failed read through the SDK: a missing key is NO_SUCH_KEY, a changed object OBJECT_CHANGED', async () => {
    const { client, direct } = directClient();
    await expect(download(client, 'missing/none.bin', 10)).rejects.toMatchObject({
      code: 'NO_SUCH_KEY',
    });
    await upload(client, 'changed/a.bin', randomBytes(1000));
    await expect(
      download(client, 'changed/a.bin', 1000, '"0123456789abcdef0123456789abcdef"'),
    ).rejects.toMatchObject({
      code: 'OBJECT_CHANGED',
    });
    expect(direct.stats.viaSdk).toBe(2);
    client.destroy();
  });

  it('retries a 503 direct, under the SDK retry strategy, and succeeds', async () => {
    const handler = new FailFirst(1, 503);
    const { client, direct } = directClient(handler);
    const body = randomBytes(5000);
    await upload(client, 'slowdown/a.bin', body);
    expect(handler.failed).toBe(1);
    expect(handler.requests).toBe(2);
    expect(direct.stats).toEqual({ direct: 1, viaSdk: 0 });
    expect(sha256(await download(client, 'slowdown/a.bin', body.length))).toBe(sha256(body));
    expect(direct.stats).toEqual({ direct: 2, viaSdk: 0 });
    client.destroy();
  });

  it("paces direct requests with the client's retry strategy (adaptive mode's rate limiter included)", async () => {
    const handler = new FailFirst(1, 503);
    const client = adminClient(servers.s3, { requestHandler: handler, retryMode: 'adaptive' });
    const strategy = await client.config.retryStrategy();
    const calls: string[] = [];
    for (const name of ['acquireInitialRetryToken', 'refreshRetryTokenForRetry', 'recordSuccess']) {
      const original = (strategy as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!;
      (strategy as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        calls.push(name);
        return original.apply(strategy, args);
      };
    }
    try {
      const transfer = new Transfer(client);
      await transfer.putObject({ bucket: bucket.name, key: 'paced/a.bin', body: randomBytes(100) });
      expect(transfer.direct?.stats).toEqual({ direct: 1, viaSdk: 0 });
      expect(handler.requests).toBe(2);
      expect(calls).toEqual([
        'acquireInitialRetryToken',
        'refreshRetryTokenForRetry',
        'recordSuccess',
      ]);
    } finally {
      client.destroy();
    }
  });

  it('sends no more requests under a lasting 503 than the SDK retry strategy allows', async () => {
    const handler = new FailFirst(100, 503);
    // No retry window: only the client's own strategy (3 attempts) applies.
    const { client } = directClient(handler, false, 0);
    await expect(upload(client, 'slowdown/b.bin', randomBytes(5000))).rejects.toBeDefined();
    expect(handler.requests).toBe(3);
    client.destroy();
  });

  it('fails a direct GET with CHECKSUM_MISMATCH when a byte is flipped on the wire', async () => {
    const body = randomBytes(200 * 1024);
    await bucket.admin.send(
      new PutObjectCommand({ Bucket: bucket.name, Key: 'corrupt/a.bin', Body: body }),
    );
    const { client, direct } = directClient(new FlipFirstByte((range) => range === undefined));
    await expect(download(client, 'corrupt/a.bin', body.length)).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
    expect(direct.stats).toEqual({ direct: 1, viaSdk: 0 });
    client.destroy();
  });

  it('verifies SHA-256, CRC32C and CRC64NVME checksums itself, with the SDK implementations', async () => {
    const body = randomBytes(100 * 1024);
    const algorithms = ['SHA256', 'CRC32C', 'CRC64NVME'] as const;
    for (const algorithm of algorithms) {
      await bucket.admin.send(
        new PutObjectCommand({
          Bucket: bucket.name,
          Key: `algo/${algorithm}.bin`,
          Body: body,
          ChecksumAlgorithm: algorithm,
        }),
      );
    }
    for (const algorithm of algorithms) {
      const flipping = directClient(new FlipFirstByte((range) => range === undefined));
      await expect(
        download(flipping.client, `algo/${algorithm}.bin`, body.length),
      ).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
      expect(flipping.direct.stats).toEqual({ direct: 1, viaSdk: 0 });
      flipping.client.destroy();
    }

    const { client, direct } = directClient();
    for (const algorithm of algorithms) {
      expect(sha256(await download(client, `algo/${algorithm}.bin`, body.length))).toBe(
        sha256(body),
      );
    }
    expect(direct.stats).toEqual({ direct: 3, viaSdk: 0 });
    client.destroy();
  });

  it('writes with an unsigned payload when asked, the CRC32 still checked by the server', async () => {
    const { client, direct } = directClient(undefined, true);
    const body = randomBytes(64 * 1024);
    await upload(client, 'unsigned/a.bin', body);
    expect(direct.stats).toEqual({ direct: 1, viaSdk: 0 });
    const head = await bucket.admin.send(
      new HeadObjectCommand({
        Bucket: bucket.name,
        Key: 'unsigned/a.bin',
        ChecksumMode: 'ENABLED',
      }),
    );
    expect(head.ChecksumCRC32).toBeDefined();
    expect(sha256(await download(client, 'unsigned/a.bin', body.length))).toBe(sha256(body));
    client.destroy();
  });

  it('reads a small object into one buffer, checking its size and checksum, and writes it back', async () => {
    const body = randomBytes(150_000);
    await bucket.admin.send(
      new PutObjectCommand({ Bucket: bucket.name, Key: 'whole/a.bin', Body: body }),
    );
    const { client, direct } = directClient();
    const read = (size: number) =>
      transferOf(client).readSmallObject({ bucket: bucket.name, key: 'whole/a.bin', size });
    const got = await read(body.length);
    expect(got && sha256(got)).toBe(sha256(body));
    await expect(read(body.length - 1)).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
    await expect(read(body.length + 1)).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
    const written = await transferOf(client).putObject({
      bucket: bucket.name,
      key: 'whole/copy.bin',
      body: got!,
      ifNoneMatch: true,
    });
    expect(written).toMatchObject({ bytes: body.length, parts: 1 });
    await expect(
      transferOf(client).putObject({
        bucket: bucket.name,
        key: 'whole/copy.bin',
        body: got!,
        ifNoneMatch: true,
      }),
    ).rejects.toMatchObject({ code: 'OBJECT_EXISTS' });
    expect(direct.stats).toEqual({ direct: 4, viaSdk: 1 });
    client.destroy();

    const flipping = directClient(new FlipFirstByte((range) => range === undefined));
    await expect(
      transferOf(flipping.client).readSmallObject({
        bucket: bucket.name,
        key: 'whole/a.bin',
        size: body.length,
      }),
    ).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    flipping.client.destroy();

    // Without direct requests there is nothing to read this way: the caller streams instead.
    const plain = adminClient(servers.s3);
    expect(
      await transferOf(plain).readSmallObject({
        bucket: bucket.name,
        key: 'whole/a.bin',
        size: body.length,
      }),
    ).toBeUndefined();
    plain.destroy();
  });

  it('is on in a Transfer by default, and off with directRequests: false', () => {
    const client = adminClient(servers.s3);
    expect(new Transfer(client).direct).toBeDefined();
    expect(new Transfer(client, { directRequests: false }).direct).toBeUndefined();
    client.destroy();
  });
});

/** Records the method and payload hash of each request, then hands it to the client's own handler. */
class RecordPayloadHash {
  readonly seen: Array<{ method: string; sha256: string | undefined }> = [];
  constructor(private readonly inner: NodeHttpHandler) {}
  handle(...args: Parameters<NodeHttpHandler['handle']>) {
    const [request] = args;
    this.seen.push({ method: request.method, sha256: request.headers['x-amz-content-sha256'] });
    return this.inner.handle(...args);
  }
  destroy() {
    this.inner.destroy();
  }
}

describe('payload signing of writes against MinIO', () => {
  const servers = inject('servers');
  const bucket = useTestBucket(servers.s3, 'payload');

  it('auto is unsigned on https (and on AWS) and on loopback http, signed on other http', () => {
    expect(isPayloadUnsigned('auto', undefined)).toBe(true);
    expect(isPayloadUnsigned('auto', 'https://s3.example.test')).toBe(true);
    expect(isPayloadUnsigned('auto', 'https://10.0.0.5:9000')).toBe(true);
    for (const local of [
      'http://127.0.0.1:9000',
      'http://127.1.2.3',
      'http://localhost:9000',
      'http://[::1]:9000',
    ]) {
      expect(isPayloadUnsigned('auto', local), local).toBe(true);
    }
    for (const remote of [
      'http://10.0.0.5:9000',
      'http://minio.internal:9000',
      'http://127.0.0.1.example.test',
      'not a url',
    ]) {
      expect(isPayloadUnsigned('auto', remote), remote).toBe(false);
    }
    expect(isPayloadUnsigned('unsigned', 'http://10.0.0.5:9000')).toBe(true);
    expect(isPayloadUnsigned('signed', 'https://s3.example.test')).toBe(false);
  });

  for (const mode of ['signed', 'unsigned'] as const) {
    it(`writes a multipart object and a small one with ${mode} payloads, byte-identical`, async () => {
      const created = await createS3Client({
        env: {
          AWS_ACCESS_KEY_ID: servers.s3.accessKeyId,
          AWS_SECRET_ACCESS_KEY: servers.s3.secretAccessKey,
          AWS_REGION: servers.s3.region,
          AWS_ENDPOINT_URL_S3: servers.s3.endpoint,
        },
        credentials: 'env',
        payloadSigning: mode,
      });
      // The client's own handler, wrapped: same agents, requests recorded. Direct requests
      // send through the same handler, so the small PutObject is recorded too.
      const client = created.client;
      const recorder = new RecordPayloadHash(client.config.requestHandler as NodeHttpHandler);
      (client.config as { requestHandler: unknown }).requestHandler = recorder;
      const big = randomBytes(12 * MiB);
      const small = randomBytes(10_000);
      for (const [key, body] of [
        [`${mode}/big.bin`, big],
        [`${mode}/small.bin`, small],
      ] as const) {
        await new Transfer(client, { unsignedPayload: created.unsignedPayload }).upload({
          bucket: bucket.name,
          key,
          body: Readable.from([body]),
          partSize: 5 * MiB,
        });
        const got = await bucket.admin.send(
          new GetObjectCommand({ Bucket: bucket.name, Key: key }),
        );
        expect(sha256(await got.Body!.transformToByteArray()), key).toBe(sha256(body));
      }
      const writes = recorder.seen.filter((r) => r.method === 'PUT');
      // Three UploadParts (5 + 5 + 2 MiB) and the small object's PutObject.
      expect(writes).toHaveLength(4);
      for (const write of writes) {
        if (mode === 'unsigned') expect(write.sha256).toBe('UNSIGNED-PAYLOAD');
        else expect(write.sha256).toMatch(/^[0-9a-f]{64}$/);
      }
      client.destroy();
    });
  }
});

/** Records each request's headers and answers 200 itself, without sending anything. */
class RecordHeaders extends NodeHttpHandler {
  readonly seen: Array<{
    method: string;
    query: Record<string, unknown>;
    headers: Record<string, string>;
  }> = [];
  override async handle(...args: Parameters<NodeHttpHandler['handle']>) {
    const [request] = args;
    this.seen.push({
      method: request.method,
      query: { ...request.query },
      headers: Object.fromEntries(
        Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), String(v)]),
      ),
    });
    const xml =
      request.query?.uploads !== undefined
        ? '<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>'
        : request.method === 'POST'
          ? '<CompleteMultipartUploadResult><ETag>"0123-2"</ETag></CompleteMultipartUploadResult>'
          : '';
    return {
      response: new HttpResponse({
        statusCode: 200,
        headers: { etag: '"0123"' },
        body: Readable.from([Buffer.from(xml)]),
      }),
    };
  }
}

/** The headers that carry an object's attributes and the write's conditions. */
function attributeHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter(
      ([k]) =>
        k === 'content-type' ||
        k === 'content-encoding' ||
        k === 'if-none-match' ||
        k.startsWith('x-amz-meta-') ||
        k === 'x-amz-tagging' ||
        k === 'x-amz-storage-class' ||
        k.startsWith('x-amz-server-side-encryption'),
    ),
  );
}

describe('one serialisation of an object write', () => {
  const servers = inject('servers');
  const every = {
    contentType: 'text/csv; charset=utf-8',
    contentEncoding: 'gzip',
    metadata: { team: 'data', 'source-etag': 'abc' },
    tags: { env: 'prod', 'a b': 'x=y/z' },
    storageClass: 'STANDARD_IA' as const,
    sse: { type: 'aws:kms' as const, keyId: 'alias/logs' },
    ifNoneMatch: true,
  };

  it('sends every write option on the direct path and the SDK path alike, and on CreateMultipartUpload', async () => {
    const direct = new RecordHeaders();
    const sdk = new RecordHeaders();
    const body = Buffer.from('a,b\n1,2\n');
    const put = (handler: RecordHeaders, directRequests: boolean) =>
      new Transfer(adminClient(servers.s3, { requestHandler: handler, maxAttempts: 1 }), {
        directRequests,
      }).putObject({ bucket: 'b', key: 'k/x.csv', body, ...every });
    await put(direct, true);
    await put(sdk, false);
    expect(direct.seen).toHaveLength(1);
    expect(sdk.seen).toHaveLength(1);
    const fromDirect = attributeHeaders(direct.seen[0]!.headers);
    const fromSdk = attributeHeaders(sdk.seen[0]!.headers);
    // Every option shows up as a header, and both paths send exactly the same ones.
    expect(Object.keys(fromSdk).length).toBeGreaterThanOrEqual(9);
    expect(fromDirect).toEqual(fromSdk);

    // A multipart upload carries the same attributes on its CreateMultipartUpload
    // (If-None-Match goes with the completion instead).
    const multipart = new RecordHeaders();
    await new Transfer(adminClient(servers.s3, { requestHandler: multipart, maxAttempts: 1 }), {
      directRequests: true,
    }).upload({
      bucket: 'b',
      key: 'k/x.csv',
      body: Readable.from([randomBytes(6 * MiB)]),
      partSize: 5 * MiB,
      ...every,
    });
    const create = multipart.seen.find((r) => r.method === 'POST' && 'uploads' in r.query);
    const complete = multipart.seen.find((r) => r.method === 'POST' && 'uploadId' in r.query);
    const { 'if-none-match': ifNoneMatch, ...attributes } = fromSdk;
    expect(attributeHeaders(create!.headers)).toEqual(attributes);
    expect(complete!.headers['if-none-match']).toBe(ifNoneMatch);
  });
});
