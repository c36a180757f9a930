import { existsSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/jobs/ship-logs/checkpoint.js';
import { FileTailer } from '../../src/jobs/ship-logs/file-tailer.js';
import type { FilePosition } from '../../src/jobs/ship-logs/source-event.js';
import { type BatchMeta, Spool } from '../../src/jobs/ship-logs/spool.js';
import { LogWriter } from '../fixtures/ship-logs/harness.js';

const log = pino({ level: 'silent' });
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 's3worker-ship-logs-restart-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A sealed batch of `bytes` bytes of data, moving file `f` to `offset`. */
async function addBatch(spool: Spool, seq: number, bytes: number, offset: number): Promise<void> {
  writeFileSync(spool.openDataPath, Buffer.alloc(bytes, 'x'));
  const meta: BatchMeta = {
    seq,
    batchId: `batch-${seq}`,
    key: `logs/${seq}.log.gz`,
    openedAt: new Date(0).toISOString(),
    lines: 1,
    rawBytes: bytes,
    dataBytes: bytes,
    positions: [{ id: 'f', fingerprint: '', fingerprintBytes: 0, offset, path: 'a.log' }],
    forget: [],
  };
  await spool.add(meta);
}

describe('ship-logs spool at open', () => {
  it('drops a batch whose data is short together with every later batch, and keeps the earlier ones', async () => {
    const first = await Spool.open({ dir, maxBytes: 1 << 20, log });
    for (let seq = 0; seq < 4; seq++) await addBatch(first, seq, 100, (seq + 1) * 10);
    await first.close();
    truncateSync(first.dataPath(1), 50);

    const spool = await Spool.open({ dir, maxBytes: 1 << 20, log });
    try {
      // Reading resumes where batch 0 left the file (offset 10), before batch 1's lines.
      expect(spool.batches.map((b) => b.seq)).toEqual([0]);
      expect(spool.droppedBatches).toBe(3);
      expect(spool.bytes).toBe(100);
      for (const seq of [1, 2, 3]) {
        expect(existsSync(spool.metaPath(seq))).toBe(false);
        expect(existsSync(spool.dataPath(seq))).toBe(false);
      }
    } finally {
      await spool.close();
    }
  });

  it('treats an unreadable batch description and a missing data file like short data', async () => {
    const first = await Spool.open({ dir, maxBytes: 1 << 20, log });
    for (let seq = 0; seq < 3; seq++) await addBatch(first, seq, 100, (seq + 1) * 10);
    await first.close();
    writeFileSync(first.metaPath(2), '{"seq": 2, "bat');
    let spool = await Spool.open({ dir, maxBytes: 1 << 20, log });
    expect(spool.batches.map((b) => b.seq)).toEqual([0, 1]);
    expect(spool.droppedBatches).toBe(1);
    await spool.close();

    rmSync(spool.dataPath(0));
    spool = await Spool.open({ dir, maxBytes: 1 << 20, log });
    expect(spool.batches).toEqual([]);
    expect(spool.droppedBatches).toBe(2);
    expect(readdirSync(dir).filter((n) => /^\d+\./.test(n))).toEqual([]);
    await spool.close();
  });

  it('keeps an intact spool as it is', async () => {
    const first = await Spool.open({ dir, maxBytes: 1 << 20, log });
    for (let seq = 0; seq < 3; seq++) await addBatch(first, seq, 100, (seq + 1) * 10);
    await first.close();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20, log });
    expect(spool.batches.map((b) => b.seq)).toEqual([0, 1, 2]);
    expect(spool.droppedBatches).toBe(0);
    await spool.close();
  });
});

describe('ship-logs first start', () => {
  it('FileTailer hands the first scan positions to afterFirstScan before any lines, and waits for it', async () => {
    const app = new LogWriter(join(dir, 'app.log'));
    app.write('old', 10);
    const order: string[] = [];
    let recorded: FilePosition[] | undefined;
    const tailer = new FileTailer({
      patterns: [join(dir, '*.log')],
      exclude: [],
      startAtEnd: true,
      resume: new Map(),
      pollInterval: 20,
      rotateWait: 300,
      maxLineBytes: 64 * 1024,
      log,
      afterFirstScan: async (positions) => {
        // Lines written while the record is being made are after the start: they are read.
        app.write('new', 5);
        await new Promise((resolve) => setTimeout(resolve, 50));
        recorded = positions;
        order.push('recorded');
      },
    });
    const stop = new AbortController();
    // Only a bound for a broken tailer: a stop ends events() once the files are read.
    const bound = setTimeout(() => stop.abort(), 10_000);
    let lines = 0;
    try {
      for await (const event of tailer.events(stop.signal)) {
        if (event.kind !== 'lines') continue;
        order.push('lines');
        lines += event.lines;
        if (lines >= 5) break;
      }
    } finally {
      clearTimeout(bound);
      stop.abort();
      app.close();
    }
    expect(order[0]).toBe('recorded');
    expect(lines).toBe(5);
    expect(recorded).toHaveLength(1);
    expect(recorded![0]).toMatchObject({ path: join(dir, 'app.log'), offset: 10 * 37 });
  });

  it('a checkpoint saved with the first start positions (or none) exists at the next load', async () => {
    const checkpoint = await Checkpoint.load(dir);
    expect(checkpoint.existed).toBe(false);
    checkpoint.recordStart([]);
    await checkpoint.save();
    const again = await Checkpoint.load(dir);
    expect(again.existed).toBe(true);
    expect(again.files.size).toBe(0);
    const position = { id: '1:2', fingerprint: 'f', fingerprintBytes: 256, offset: 500, path: 'a' };
    again.recordStart([position]);
    await again.save();
    expect((await Checkpoint.load(dir)).files.get('1:2')).toEqual(position);
  });
});
