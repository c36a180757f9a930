import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ChunkGarbage } from '../../src/transfer/chunk-garbage.js';
import { UploadPartReader } from '../../src/transfer/upload-part-reader.js';

const noCollections = () => new ChunkGarbage({ collect: undefined });

describe('reading a stream body into part buffers', () => {
  it('ends a pending read with the abort reason and records no failure of the source', async () => {
    // A source that never sends anything: the read can only end by the abort.
    const source = new Readable({ read() {} });
    const reader = new UploadPartReader(source, noCollections());
    const controller = new AbortController();
    const pending = reader.fill(Buffer.alloc(10), controller.signal);
    const reason = new Error('stopped on purpose');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(reader.failure).toBeUndefined();
  });

  it('records an error of the source as its failure', async () => {
    const broken = new Error('source broke');
    const source = new Readable({
      read() {
        this.push(Buffer.alloc(4, 1));
        this.destroy(broken);
      },
    });
    const reader = new UploadPartReader(source, noCollections());
    await expect(reader.fill(Buffer.alloc(10), new AbortController().signal)).rejects.toBe(broken);
    expect(reader.failure).toBe(broken);
  });

  it('reads an async iterable that is not a stream, and ends its read on an abort too', async () => {
    const controller = new AbortController();
    async function* chunks() {
      yield Buffer.from('abc');
      yield Buffer.from('def');
      await new Promise(() => {});
    }
    const reader = new UploadPartReader(chunks(), noCollections());
    const part = Buffer.alloc(6);
    expect(await reader.fill(part, controller.signal)).toBe(6);
    expect(part.toString()).toBe('abcdef');
    const pending = reader.fill(part, controller.signal);
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
  });
});
