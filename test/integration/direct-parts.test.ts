import { createHash } from 'node:crypto';
import { HeadObjectCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { describe, expect, inject, it } from 'vitest';
import { Transfer } from '../../src/transfer/transfer.js';
import { countSdkCommands } from '../support/count-sdk-commands.js';
import { FlipFirstByte } from '../support/fault-handlers.js';
import { randomSource } from '../support/random-source.js';
import { adminClient } from '../support/s3.js';
import { useTestBucket } from '../support/test-bucket.js';

const MiB = 1024 * 1024;

/** Flips the first byte of every UploadPart body after it was signed: corruption on the wire. */
class FlipPartBodies extends NodeHttpHandler {
  flipped = 0;
  override async handle(...args: Parameters<NodeHttpHandler['handle']>) {
    const [request] = args;
    const body = request.body as unknown;
    if (request.method === 'PUT' && request.query?.partNumber !== undefined) {
      if (Buffer.isBuffer(body) && body.length > 0) {
        const copy = Buffer.from(body);
        copy[0] = (copy[0] ?? 0) ^ 0xff;
        request.body = copy;
        this.flipped += 1;
      }
    }
    return super.handle(...args);
  }
}

describe('direct UploadPart and ranged GetObject of large objects against MinIO', () => {
  const servers = inject('servers');
  const bucket = useTestBucket(servers.s3, 'direct-parts');
  /** SDK commands sent by the clients under test, by name. */
  const sdkCommands = new Map<string, number>();

  /** A root-key client whose SDK commands are counted, and its transfer (direct requests on). */
  function directTransfer(
    handler?: NodeHttpHandler,
    unsignedPayload = false,
  ): { client: S3Client; transfer: Transfer } {
    const client = adminClient(servers.s3, handler ? { requestHandler: handler } : {});
    countSdkCommands(client, sdkCommands);
    const transfer = new Transfer(client, {
      unsignedPayload,
      partSize: 5 * MiB,
      queueSize: 2,
      rangeThreshold: 6 * MiB,
      rangeSize: 5 * MiB,
      rangeConcurrency: 2,
      retryWindow: 0,
    });
    return { client, transfer };
  }

  async function sha256Of(stream: AsyncIterable<Uint8Array>): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of stream) hash.update(chunk);
    return hash.digest('hex');
  }

  async function pendingUploads(key: string): Promise<number> {
    const res = await bucket.admin.send(new ListMultipartUploadsCommand({ Bucket: bucket.name }));
    return (res.Uploads ?? []).filter((u) => u.Key === key).length;
  }

  for (const unsignedPayload of [false, true]) {
    it(`uploads parts and reads ranges with no SDK UploadPart or GetObject, byte-identical, full-object CRC32 (${unsignedPayload ? 'unsigned' : 'signed'} payload)`, async () => {
      sdkCommands.clear();
      const { client, transfer } = directTransfer(undefined, unsignedPayload);
      const key = `parts-${unsignedPayload}/a.bin`;
      const size = 12 * MiB + 777;
      // Unknown length, chunks that do not line up with the parts.
      const source = randomSource(size, { chunk: 300_001 });
      const written = await transfer.upload({ bucket: bucket.name, key, body: source.stream });
      expect(written).toMatchObject({ bytes: size, parts: 3 });
      expect(sdkCommands.get('UploadPartCommand')).toBeUndefined();
      expect(sdkCommands.get('CreateMultipartUploadCommand')).toBe(1);
      expect(sdkCommands.get('CompleteMultipartUploadCommand')).toBe(1);

      const head = await bucket.admin.send(
        new HeadObjectCommand({ Bucket: bucket.name, Key: key, ChecksumMode: 'ENABLED' }),
      );
      expect(head.ContentLength).toBe(size);
      expect(head.ChecksumType).toBe('FULL_OBJECT');
      expect(head.ChecksumCRC32).toMatch(/^[A-Za-z0-9+/]{6}==$/);

      const read = await sha256Of(
        transfer.download({ bucket: bucket.name, key, size, etag: head.ETag }),
      );
      expect(read).toBe(source.digest());
      expect(sdkCommands.get('GetObjectCommand')).toBeUndefined();
      // 3 parts, 3 ranges.
      expect(transfer.direct?.stats).toEqual({ direct: 6, viaSdk: 0 });
      client.destroy();
    });
  }

  it('copies an object of known length part by part, direct both ways, byte-identical, as a copy-through does', async () => {
    sdkCommands.clear();
    const { client, transfer } = directTransfer(undefined, true);
    const size = 11 * MiB + 5;
    const source = randomSource(size);
    await transfer.upload({ bucket: bucket.name, key: 'known/src.bin', body: source.stream });
    const head = await bucket.admin.send(
      new HeadObjectCommand({ Bucket: bucket.name, Key: 'known/src.bin' }),
    );
    const copied = await transfer.upload({
      bucket: bucket.name,
      key: 'known/copy.bin',
      body: transfer.download({ bucket: bucket.name, key: 'known/src.bin', size, etag: head.ETag }),
      expectedBytes: size,
    });
    expect(copied).toMatchObject({ bytes: size, parts: 3 });
    const read = await sha256Of(
      transfer.download({ bucket: bucket.name, key: 'known/copy.bin', size }),
    );
    expect(read).toBe(source.digest());
    expect(sdkCommands.get('UploadPartCommand')).toBeUndefined();
    expect(sdkCommands.get('GetObjectCommand')).toBeUndefined();
    client.destroy();
  });

  it('fails an upload whose parts are corrupted on the wire (the server checks each part CRC32) and leaves no multipart upload', async () => {
    const handler = new FlipPartBodies();
    const { client, transfer } = directTransfer(handler, true);
    const key = 'corrupt-part/a.bin';
    await expect(
      transfer.upload({ bucket: bucket.name, key, body: randomSource(11 * MiB).stream }),
    ).rejects.toBeDefined();
    expect(handler.flipped).toBeGreaterThan(0);
    // Refused direct, the part went through the SDK, which the server refused as well.
    expect(transfer.direct?.stats.viaSdk).toBeGreaterThan(0);
    expect(await pendingUploads(key)).toBe(0);
    await expect(
      bucket.admin.send(new HeadObjectCommand({ Bucket: bucket.name, Key: key })),
    ).rejects.toMatchObject({ name: 'NotFound' });
    client.destroy();
  });

  it('fails a direct ranged read with CHECKSUM_MISMATCH when a byte of a range is flipped on the wire', async () => {
    const key = 'corrupt-range/a.bin';
    const size = 11 * MiB;
    const writer = directTransfer();
    await writer.transfer.upload({ bucket: bucket.name, key, body: randomSource(size).stream });
    writer.client.destroy();
    // Only the middle range is corrupted.
    const { client, transfer } = directTransfer(
      new FlipFirstByte((range) => range?.startsWith(`bytes=${5 * MiB}-`) === true),
    );
    await expect(
      sha256Of(transfer.download({ bucket: bucket.name, key, size })),
    ).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    expect(transfer.direct?.stats.direct).toBeGreaterThanOrEqual(3);
    client.destroy();
  });

  it('aborts the multipart upload when the signal aborts after parts were stored directly', async () => {
    const { client, transfer } = directTransfer(undefined, true);
    const key = 'abort/a.bin';
    const controller = new AbortController();
    const source = randomSource(64 * MiB);
    let seen = 0;
    source.stream.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen >= 16 * MiB) controller.abort(new Error('stop on purpose'));
    });
    await expect(
      transfer.upload({ bucket: bucket.name, key, body: source.stream, signal: controller.signal }),
    ).rejects.toThrow('stop on purpose');
    expect(transfer.direct?.stats.direct).toBeGreaterThan(0);
    expect(await pendingUploads(key)).toBe(0);
    client.destroy();
  });
});
