import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listObjects } from '../../src/s3/list-objects.js';
import { sweepIncompleteUploads } from '../../src/s3/sweep-uploads.js';
import { ByteBudget } from '../../src/transfer/byte-budget.js';
import { FlipFirstByte } from '../support/fault-handlers.js';
import { randomSource } from '../support/random-source.js';
import { adminClient, createTestBucket } from '../support/s3.js';
import { downloadWith, uploadWith } from '../support/transfer-with.js';

const MiB = 1024 * 1024;

/** Random bytes made chunk by chunk, hashed as they go, optionally failing after `failAfter` bytes. */
async function sha256Of(
  stream: AsyncIterable<Uint8Array>,
): Promise<{ hex: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { hex: hash.digest('hex'), bytes };
}

describe('transfer primitives against MinIO', () => {
  const servers = inject('servers');
  let client: S3Client;
  let agent: Agent;
  let bucket: { name: string; remove: () => Promise<void> };
  /** Most GetObject requests with a Range header waiting for their response at once. */
  let maxRangedInFlight = 0;

  beforeAll(async () => {
    agent = new Agent({ keepAlive: true, maxSockets: 16 });
    client = clientWith(new NodeHttpHandler({ httpAgent: agent }));
    let inFlight = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const ranged =
          context.commandName === 'GetObjectCommand' &&
          'Range' in (args.input as object) &&
          (args.input as { Range?: string }).Range !== undefined;
        if (ranged) maxRangedInFlight = Math.max(maxRangedInFlight, ++inFlight);
        try {
          return await next(args);
        } finally {
          if (ranged) inFlight -= 1;
        }
      },
      { step: 'initialize', name: 'countRangedGets' },
    );
    bucket = await createTestBucket(adminClient(servers.s3), 'transfer');
  });

  afterAll(async () => {
    await bucket?.remove();
    client?.destroy();
    agent?.destroy();
  });

  /** A root-key client for the test server that sends requests through `handler`. */
  function clientWith(handler: NodeHttpHandler): S3Client {
    return adminClient(servers.s3, { requestHandler: handler });
  }

  async function pendingUploads(prefix?: string): Promise<number> {
    // MinIO matches Prefix against whole keys only, so filter here.
    const res = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket.name }));
    return (res.Uploads ?? []).filter((u) => u.Key?.startsWith(prefix ?? '')).length;
  }

  it('lists every object under a prefix page by page, in key order, and nothing outside it', async () => {
    for (const k of ['list/a', 'list/b', 'list/c/d', 'list/e', 'list/f', 'other/x']) {
      await client.send(new PutObjectCommand({ Bucket: bucket.name, Key: k, Body: k }));
    }
    const seen = [];
    for await (const o of listObjects(client, {
      bucket: bucket.name,
      prefix: 'list/',
      pageSize: 2,
    })) {
      seen.push(o);
    }
    expect(seen.map((o) => o.key)).toEqual(['list/a', 'list/b', 'list/c/d', 'list/e', 'list/f']);
    expect(seen[2]?.size).toBe('list/c/d'.length);
    expect(seen[0]?.etag).toMatch(/^".+"$/);
    expect(seen[0]?.lastModified).toBeInstanceOf(Date);
  });

  it('uploads a body of unknown length as a multipart upload and downloads it ranged, byte-identical', async () => {
    const budget = new ByteBudget(64 * MiB, 60_000);
    const source = randomSource(100 * MiB + 12345);
    const result = await uploadWith(client, {
      bucket: bucket.name,
      key: 'big/random.bin',
      body: source.stream,
      partSize: 8 * MiB,
      queueSize: 3,
      budget,
      contentType: 'application/octet-stream',
      metadata: { 'source-etag': 'abc' },
      tags: { team: 'data eng', 'a+b': 'x=y/z' },
    });
    const sent = source.digest();
    expect(result.parts).toBe(13);
    expect(result.bytes).toBe(100 * MiB + 12345);

    const head = await client.send(
      new HeadObjectCommand({
        Bucket: bucket.name,
        Key: 'big/random.bin',
        ChecksumMode: 'ENABLED',
      }),
    );
    expect(head.Metadata).toEqual({ 'source-etag': 'abc' });
    expect(head.ContentType).toBe('application/octet-stream');
    expect(head.ChecksumCRC32).toBeDefined();
    const tagging = await client.send(
      new GetObjectTaggingCommand({ Bucket: bucket.name, Key: 'big/random.bin' }),
    );
    expect(Object.fromEntries((tagging.TagSet ?? []).map((t) => [t.Key, t.Value]))).toEqual({
      team: 'data eng',
      'a+b': 'x=y/z',
    });

    maxRangedInFlight = 0;
    const stream = downloadWith(client, {
      bucket: bucket.name,
      key: 'big/random.bin',
      size: result.bytes,
      etag: head.ETag,
      budget,
      rangeThreshold: 16 * MiB,
      rangeSize: 5 * MiB,
      rangeConcurrency: 4,
    });
    const got = await sha256Of(stream);
    expect(got.bytes).toBe(result.bytes);
    expect(got.hex).toBe(sent);
    expect(maxRangedInFlight).toBeGreaterThanOrEqual(2);
    expect(budget.used).toBe(0);
    expect(budget.highWaterMark).toBeLessThanOrEqual(budget.limit);
  });

  it('uploads an open file straight into the part buffers, with or without its length, and leaves it open', async () => {
    const dir = await mkdtemp(join(tmpdir(), 's3worker-file-body-'));
    try {
      const cases = [
        { name: 'multipart-known', size: 12 * MiB + 777, expected: true, parts: 3 },
        { name: 'multipart-unknown', size: 10 * MiB, expected: false, parts: 2 },
        { name: 'small', size: 5000, expected: true, parts: 1 },
        { name: 'empty', size: 0, expected: false, parts: 1 },
      ];
      for (const c of cases) {
        const data = randomBytes(c.size);
        const path = join(dir, c.name);
        await writeFile(path, data);
        const file = await open(path, 'r');
        try {
          const result = await uploadWith(client, {
            bucket: bucket.name,
            key: `file-body/${c.name}`,
            body: { file },
            ...(c.expected ? { expectedBytes: c.size } : {}),
            partSize: 5 * MiB,
            queueSize: 1,
            budget: new ByteBudget(64 * MiB, 60_000),
          });
          expect(result.bytes, c.name).toBe(c.size);
          expect(result.parts, c.name).toBe(c.parts);
          // The caller's handle is still open.
          expect((await file.stat()).size).toBe(c.size);
        } finally {
          await file.close();
        }
        const got = await client.send(
          new GetObjectCommand({ Bucket: bucket.name, Key: `file-body/${c.name}` }),
        );
        const bytes = Buffer.from(await got.Body!.transformToByteArray());
        expect(bytes.equals(data), c.name).toBe(true);
      }
      // A file longer than announced writes nothing.
      const path = join(dir, 'longer');
      await writeFile(path, randomBytes(6 * MiB));
      const file = await open(path, 'r');
      try {
        await expect(
          uploadWith(client, {
            bucket: bucket.name,
            key: 'file-body/longer',
            body: { file },
            expectedBytes: 5 * MiB + 1,
            partSize: 5 * MiB,
            queueSize: 1,
            budget: new ByteBudget(64 * MiB, 60_000),
          }),
        ).rejects.toMatchObject({ code: 'BODY_TOO_LONG' });
      } finally {
        await file.close();
      }
      expect(await pendingUploads('file-body/')).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads a small object with one GET, byte-identical', async () => {
    const body = randomBytes(3 * MiB + 7);
    await client.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'small.bin', Body: body }));
    maxRangedInFlight = 0;
    const budget = new ByteBudget(16 * MiB);
    const got = await sha256Of(
      downloadWith(client, {
        bucket: bucket.name,
        key: 'small.bin',
        size: body.length,
        budget,
      }),
    );
    expect(got.hex).toBe(createHash('sha256').update(body).digest('hex'));
    expect(maxRangedInFlight).toBe(0);
  });

  it('fails a ranged read with OBJECT_CHANGED when the object is replaced (If-Match)', async () => {
    const body = randomBytes(12 * MiB);
    const put = await client.send(
      new PutObjectCommand({ Bucket: bucket.name, Key: 'changing.bin', Body: body }),
    );
    await client.send(
      new PutObjectCommand({
        Bucket: bucket.name,
        Key: 'changing.bin',
        Body: randomBytes(12 * MiB),
      }),
    );
    const stream = downloadWith(client, {
      bucket: bucket.name,
      key: 'changing.bin',
      size: body.length,
      etag: put.ETag,
      budget: new ByteBudget(32 * MiB),
      rangeThreshold: 5 * MiB,
      rangeSize: 5 * MiB,
    });
    await expect(sha256Of(stream)).rejects.toMatchObject({ code: 'OBJECT_CHANGED' });
  });

  it('fails a ranged read with CHECKSUM_MISMATCH when a byte is flipped on the wire', async () => {
    const size = 20 * MiB;
    const written = await uploadWith(client, {
      bucket: bucket.name,
      key: 'corrupt/source.bin',
      body: randomSource(size).stream,
      partSize: 5 * MiB,
      budget: new ByteBudget(64 * MiB),
    });
    expect(written.parts).toBe(4);
    const corrupting = clientWith(
      new FlipFirstByte((range) => range?.startsWith('bytes=5242880-') === true),
    );
    try {
      const stream = downloadWith(corrupting, {
        bucket: bucket.name,
        key: 'corrupt/source.bin',
        size,
        etag: written.etag,
        budget: new ByteBudget(64 * MiB),
        rangeThreshold: 8 * MiB,
        rangeSize: 5 * MiB,
      });
      await expect(sha256Of(stream)).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    } finally {
      corrupting.destroy();
    }
  });

  it('fails a single GET with CHECKSUM_MISMATCH when a byte is flipped on the wire', async () => {
    const body = randomBytes(2 * MiB);
    await client.send(
      new PutObjectCommand({ Bucket: bucket.name, Key: 'corrupt/small.bin', Body: body }),
    );
    const corrupting = clientWith(new FlipFirstByte((range) => range === undefined));
    try {
      const stream = downloadWith(corrupting, {
        bucket: bucket.name,
        key: 'corrupt/small.bin',
        size: body.length,
        budget: new ByteBudget(16 * MiB),
      });
      await expect(sha256Of(stream)).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    } finally {
      corrupting.destroy();
    }
  });

  it('resumes a range whose body is cut mid-way and still reassembles the object byte-identical', async () => {
    const size = 20 * MiB;
    const source = randomSource(size);
    await uploadWith(client, {
      bucket: bucket.name,
      key: 'cut/source.bin',
      body: source.stream,
      budget: new ByteBudget(64 * MiB),
    });
    const digest = source.digest();
    const cutting = new CutOnce('bytes=5242880-', MiB);
    const flaky = clientWith(cutting);
    try {
      const got = await sha256Of(
        downloadWith(flaky, {
          bucket: bucket.name,
          key: 'cut/source.bin',
          size,
          budget: new ByteBudget(64 * MiB),
          rangeThreshold: 8 * MiB,
          rangeSize: 5 * MiB,
        }),
      );
      expect(cutting.cuts).toBe(1);
      // Resumed from what had arrived before the cut (at most 1 MiB into the range), not from its start.
      const resumed = /^bytes=(\d+)-(\d+)$/.exec(cutting.resumedFrom ?? '');
      expect(Number(resumed?.[1])).toBeGreaterThan(5 * MiB);
      expect(Number(resumed?.[1])).toBeLessThanOrEqual(6 * MiB);
      expect(Number(resumed?.[2])).toBe(10 * MiB - 1);
      expect(got.hex).toBe(digest);
    } finally {
      flaky.destroy();
    }
  });

  it('errors promptly when a ranged download is aborted, releasing its budget and sockets', async () => {
    const size = 60 * MiB;
    await uploadWith(client, {
      bucket: bucket.name,
      key: 'abort/source.bin',
      body: randomSource(size).stream,
      budget: new ByteBudget(64 * MiB),
    });
    const budget = new ByteBudget(64 * MiB, 60_000);
    const controller = new AbortController();
    const stream = downloadWith(client, {
      bucket: bucket.name,
      key: 'abort/source.bin',
      size,
      budget,
      rangeThreshold: 8 * MiB,
      rangeSize: 4 * MiB,
      rangeConcurrency: 4,
      signal: controller.signal,
    });
    let read = 0;
    const reading = (async () => {
      for await (const chunk of stream) {
        read += chunk.length;
        if (read >= 8 * MiB) controller.abort(new Error('stop now'));
      }
    })();
    await expect(reading).rejects.toThrow('stop now');
    expect(read).toBeLessThan(size);
    expect(stream.destroyed).toBe(true);
    expect(budget.used).toBe(0);
    // Sockets of the aborted GETs are destroyed, not left busy in the agent.
    for (let i = 0; i < 50 && busySockets(agent) > 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(busySockets(agent)).toBe(0);
  });

  it('aborts the multipart upload when the body stream fails mid-way', async () => {
    const source = randomSource(30 * MiB, { failAfter: 12 * MiB });
    const budget = new ByteBudget(64 * MiB);
    await expect(
      uploadWith(client, {
        bucket: bucket.name,
        key: 'broken/out.bin',
        body: source.stream,
        partSize: 5 * MiB,
        budget,
      }),
    ).rejects.toThrow(/^source broke on purpose$/);
    expect(await pendingUploads('broken/')).toBe(0);
    expect(budget.used).toBe(0);
    await expect(
      client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: 'broken/out.bin' })),
    ).rejects.toMatchObject({ name: 'NotFound' });
  });

  it('aborts the multipart upload and rethrows the abort reason when the signal aborts', async () => {
    const controller = new AbortController();
    const source = randomSource(40 * MiB);
    const budget = new ByteBudget(64 * MiB);
    let seen = 0;
    source.stream.on('data', (c: Buffer) => {
      seen += c.length;
      if (seen >= 11 * MiB) controller.abort(new Error('drain deadline passed'));
    });
    source.stream.pause();
    await expect(
      uploadWith(client, {
        bucket: bucket.name,
        key: 'aborted/out.bin',
        body: source.stream,
        partSize: 5 * MiB,
        budget,
        signal: controller.signal,
      }),
    ).rejects.toThrow('drain deadline passed');
    expect(await pendingUploads('aborted/')).toBe(0);
    expect(budget.used).toBe(0);
  });

  it('refuses a second write to the same key with If-None-Match, for PutObject and multipart', async () => {
    const budget = new ByteBudget(64 * MiB);
    const small = () => Readable.from([Buffer.from('first')]);
    await uploadWith(client, {
      bucket: bucket.name,
      key: 'once/small',
      body: small(),
      budget,
      ifNoneMatch: true,
    });
    await expect(
      uploadWith(client, {
        bucket: bucket.name,
        key: 'once/small',
        body: small(),
        budget,
        ifNoneMatch: true,
      }),
    ).rejects.toMatchObject({ code: 'OBJECT_EXISTS' });

    const big = () => randomSource(11 * MiB).stream;
    const opts = {
      bucket: bucket.name,
      key: 'once/big',
      budget,
      partSize: 5 * MiB,
      ifNoneMatch: true,
    };
    const first = await uploadWith(client, { ...opts, body: big() });
    expect(first.parts).toBe(3);
    await expect(uploadWith(client, { ...opts, body: big() })).rejects.toMatchObject({
      code: 'OBJECT_EXISTS',
    });
    expect(await pendingUploads('once/')).toBe(0);
    // The first write is what stays.
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: 'once/big' }));
    expect(head.ETag).toBe(first.etag);
  });

  it('keeps a copy-through under the byte budget it shares between download and upload', async () => {
    const size = 48 * MiB;
    const src = randomSource(size);
    await uploadWith(client, {
      bucket: bucket.name,
      key: 'budget/in.bin',
      body: src.stream,
      budget: new ByteBudget(64 * MiB),
    });
    const digest = src.digest();
    // Download and upload together want 4×5 + 3×5 MiB; 20 MiB makes them take turns.
    const budget = new ByteBudget(20 * MiB, 60_000);
    const download = downloadWith(client, {
      bucket: bucket.name,
      key: 'budget/in.bin',
      size,
      budget,
      rangeThreshold: 8 * MiB,
      rangeSize: 5 * MiB,
      rangeConcurrency: 4,
    });
    await uploadWith(client, {
      bucket: bucket.name,
      key: 'budget/out.bin',
      body: download,
      partSize: 5 * MiB,
      queueSize: 2,
      budget,
    });
    expect(budget.highWaterMark).toBeGreaterThan(0);
    expect(budget.highWaterMark).toBeLessThanOrEqual(budget.limit);
    expect(budget.overdrafts).toBe(0);
    expect(budget.used).toBe(0);
    const out = await client.send(
      new GetObjectCommand({ Bucket: bucket.name, Key: 'budget/out.bin' }),
    );
    expect((await sha256Of(out.Body as Readable)).hex).toBe(digest);
  });

  it('finishes several copy-throughs that share a budget smaller than their parts, byte-identical', async () => {
    const size = 24 * MiB;
    const digests: string[] = [];
    for (let i = 0; i < 4; i++) {
      const src = randomSource(size);
      await uploadWith(client, {
        bucket: bucket.name,
        key: `many/in-${i}`,
        body: src.stream,
        budget: new ByteBudget(64 * MiB),
      });
      digests.push(src.digest());
    }
    // Four uploads of 5 MiB parts and four ranged downloads cannot all hold a part and a range
    // in 16 MiB: without the stall breaker some would wait on each other forever.
    const budget = new ByteBudget(16 * MiB, 200);
    await Promise.all(
      [0, 1, 2, 3].map((i) =>
        uploadWith(client, {
          bucket: bucket.name,
          key: `many/out-${i}`,
          body: downloadWith(client, {
            bucket: bucket.name,
            key: `many/in-${i}`,
            size,
            budget,
            rangeThreshold: 8 * MiB,
            rangeSize: 5 * MiB,
            rangeConcurrency: 3,
          }),
          partSize: 5 * MiB,
          queueSize: 2,
          budget,
        }),
      ),
    );
    expect(budget.used).toBe(0);
    for (let i = 0; i < 4; i++) {
      const out = await client.send(
        new GetObjectCommand({ Bucket: bucket.name, Key: `many/out-${i}` }),
      );
      expect((await sha256Of(out.Body as Readable)).hex).toBe(digests[i]);
    }
  });

  it('charges a body of announced size only its own bytes, and refuses a longer one', async () => {
    const budget = new ByteBudget(64 * MiB);
    const body = randomBytes(70_000);
    const res = await uploadWith(client, {
      bucket: bucket.name,
      key: 'announced/exact.bin',
      body: Readable.from([body]),
      budget,
      expectedBytes: body.length,
    });
    expect(res).toMatchObject({ bytes: body.length, parts: 1 });
    // One byte more than announced (to notice a longer body), not a whole 8 MiB part.
    expect(budget.highWaterMark).toBe(body.length + 1);
    expect(budget.used).toBe(0);
    const got = await client.send(
      new GetObjectCommand({ Bucket: bucket.name, Key: 'announced/exact.bin' }),
    );
    expect((await sha256Of(got.Body as Readable)).hex).toBe(
      createHash('sha256').update(body).digest('hex'),
    );

    await expect(
      uploadWith(client, {
        bucket: bucket.name,
        key: 'announced/longer.bin',
        body: Readable.from([body]),
        budget,
        expectedBytes: body.length - 1,
      }),
    ).rejects.toMatchObject({ code: 'BODY_TOO_LONG' });
    expect(budget.used).toBe(0);
    await expect(
      client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: 'announced/longer.bin' })),
    ).rejects.toMatchObject({ name: 'NotFound' });
  });

  it('sweeps incomplete uploads older than the cutoff under the prefix and keeps the rest', async () => {
    for (const key of ['sweep/a', 'sweep/b', 'keep/c']) {
      await client.send(new CreateMultipartUploadCommand({ Bucket: bucket.name, Key: key }));
    }
    const log = { info: () => {}, warn: () => {} };
    const recent = await sweepIncompleteUploads(client, {
      bucket: bucket.name,
      prefix: 'sweep/',
      olderThan: 3_600_000,
      log,
    });
    expect(recent).toBe(0);
    expect(await pendingUploads('sweep/')).toBe(2);
    const old = await sweepIncompleteUploads(client, {
      bucket: bucket.name,
      prefix: 'sweep/',
      olderThan: 0,
      log,
    });
    expect(old).toBe(2);
    expect(await pendingUploads('sweep/')).toBe(0);
    expect(await pendingUploads('keep/')).toBe(1);
  });
});

/** Cuts the body of the first GET whose Range starts with `rangePrefix` after `after` bytes, like a reset connection. */
class CutOnce extends NodeHttpHandler {
  cuts = 0;
  resumedFrom: string | undefined;

  constructor(
    private readonly rangePrefix: string,
    private readonly after: number,
  ) {
    super();
  }

  override async handle(...args: Parameters<NodeHttpHandler['handle']>) {
    const range = args[0].headers.range ?? args[0].headers.Range;
    const first = range?.startsWith(this.rangePrefix) === true;
    if (this.cuts > 0 && range !== undefined && this.resumedFrom === undefined) {
      // The first ranged request after the cut that is not one of the other ranges.
      if (!/^bytes=(0|5242880|10485760|15728640)-/.test(range)) this.resumedFrom = range;
    }
    const result = await super.handle(...args);
    if (first && this.cuts === 0 && result.response.body instanceof Readable) {
      this.cuts += 1;
      let passed = 0;
      const limit = this.after;
      const cut = new Transform({
        transform(chunk: Buffer, _enc, done) {
          if (passed + chunk.length >= limit) {
            const head = chunk.subarray(0, limit - passed);
            passed = limit;
            this.push(head);
            done(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
            return;
          }
          passed += chunk.length;
          done(null, chunk);
        },
      });
      result.response.body = result.response.body.pipe(cut);
    }
    return result;
  }
}

function busySockets(agent: Agent): number {
  return Object.values(agent.sockets).reduce((n, list) => n + (list?.length ?? 0), 0);
}
