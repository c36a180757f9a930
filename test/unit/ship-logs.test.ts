import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { policyCommand } from '../../src/cli/commands/policy.js';
import { ExitCode } from '../../src/errors.js';
import { shipLogsConfigProblems, shipLogsConfigSchema } from '../../src/jobs/ship-logs/config.js';
import { expandGlobs } from '../../src/jobs/ship-logs/glob-paths.js';
import { keyFields, type ShipperTask, shipperTask } from '../../src/jobs/ship-logs/key-fields.js';
import { countLines, LineSplitter, ReadBuffer } from '../../src/jobs/ship-logs/line-splitter.js';
import { OpenBatch } from '../../src/jobs/ship-logs/open-batch.js';
import { toNdjson } from '../../src/jobs/ship-logs/record-format.js';
import type { PolicyDocument } from '../../src/policy/policy-document.js';

const task: ShipperTask = {
  hostname: 'host-1',
  cluster: 'prod',
  family: 'web',
  taskId: 'abc123',
  ecs: true,
};

afterEach(() => vi.restoreAllMocks());

describe('ship-logs line splitter', () => {
  it('hands on complete lines and holds the partial one until its newline', () => {
    const s = new LineSplitter(1024);
    expect(s.push(Buffer.from('one\ntw'))?.toString()).toBe('one\n');
    expect(s.pendingBytes).toBe(2);
    expect(s.push(Buffer.from('o'))).toBeUndefined();
    expect(s.push(Buffer.from('\nthree\nfo'))?.toString()).toBe('two\nthree\n');
    expect(s.flush()?.toString()).toBe('fo\n');
    expect(s.flush()).toBeUndefined();
  });

  it('cuts a line longer than the limit into pieces of the limit', () => {
    const s = new LineSplitter(1024);
    const out = s.push(Buffer.alloc(2500, 'x'));
    expect(out?.toString()).toBe(`${'x'.repeat(1024)}\n${'x'.repeat(1024)}\n`);
    expect(s.pendingBytes).toBe(452);
    expect(countLines(out!)).toBe(2);
  });

  it('reads into the buffer after the partial line and hands on what push would', async () => {
    // Lines of 0 to 300 bytes, some longer than the limit of 256, read in pieces of 1 to 700.
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const text = Buffer.from(
      `${Array.from({ length: 2000 }, (_, i) => `${i}:${'y'.repeat(random(300))}\n`).join('')}tail`,
    );
    const pushed = new LineSplitter(256);
    const read = new LineSplitter(256);
    const viaPush: Buffer[] = [];
    const viaRead: Buffer[] = [];
    for (let at = 0; at < text.length; ) {
      const want = 1 + random(700);
      const piece = text.subarray(at, Math.min(text.length, at + want));
      const p = pushed.push(Buffer.from(piece));
      if (p) viaPush.push(Buffer.from(p));
      const r = await read.readFrom(want, async (buffer, offset, length) =>
        piece.copy(buffer, offset, 0, Math.min(length, piece.length)),
      );
      expect(r.bytesRead).toBe(piece.length);
      if (r.lines) viaRead.push(Buffer.from(r.lines));
      expect(read.pendingBytes).toBe(pushed.pendingBytes);
      at += piece.length;
    }
    expect(Buffer.concat(viaRead).equals(Buffer.concat(viaPush))).toBe(true);
    expect(read.flush()?.toString()).toBe(pushed.flush()?.toString());
    expect(countLines(Buffer.concat(viaRead))).toBeGreaterThan(2000);
    // Two files whose splitters share one read buffer, read in turns: each keeps its own
    // partial line across the other's reads.
    const shared = new ReadBuffer();
    const files = [new LineSplitter(256, shared), new LineSplitter(256, shared)];
    const sources = [text, Buffer.from(text.toString().split('').reverse().join(''))];
    // Each compared with a splitter of its own fed the same pieces by push.
    const references = [new LineSplitter(256), new LineSplitter(256)];
    const outs: Buffer[][] = [[], []];
    const expected: Buffer[][] = [[], []];
    const offsets = [0, 0];
    while (offsets[0]! < sources[0]!.length || offsets[1]! < sources[1]!.length) {
      for (const f of [0, 1]) {
        const source = sources[f]!;
        if (offsets[f]! >= source.length) continue;
        const want = 1 + random(700);
        const piece = source.subarray(offsets[f]!, Math.min(source.length, offsets[f]! + want));
        const r = await files[f]!.readFrom(want, async (buffer, offset, length) =>
          piece.copy(buffer, offset, 0, Math.min(length, piece.length)),
        );
        if (r.lines) outs[f]!.push(Buffer.from(r.lines));
        const p = references[f]!.push(Buffer.from(piece));
        if (p) expected[f]!.push(Buffer.from(p));
        offsets[f]! += piece.length;
      }
    }
    for (const f of [0, 1]) {
      const got = [...outs[f]!, files[f]!.flush() ?? Buffer.alloc(0)];
      const want = [...expected[f]!, references[f]!.flush() ?? Buffer.alloc(0)];
      expect(Buffer.concat(got).toString()).toBe(Buffer.concat(want).toString());
    }
    // Nothing read: nothing handed on, the partial line kept.
    read.push(Buffer.from('partial'));
    expect(await read.readFrom(10, async () => 0)).toEqual({ bytesRead: 0, lines: undefined });
    expect(read.flush()?.toString()).toBe('partial\n');
  });
});

describe('ship-logs open batch', () => {
  it.each(['gzip', 'zstd', 'none'] as const)(
    'has taken the bytes once write resolves, so the caller may reuse its buffer (%s)',
    async (codec) => {
      const dir = mkdtempSync(join(tmpdir(), 's3worker-batch-'));
      try {
        const batch = new OpenBatch({ path: join(dir, 'open'), codec, level: 1, maxAge: 60_000 });
        // One buffer, refilled for every write, as the tailer does with its read buffer.
        const buffer = Buffer.alloc(64 * 1024);
        const expected: string[] = [];
        for (let i = 0; i < 40; i++) {
          const line = `line ${i} ${'z'.repeat((i * 997) % 60_000)}\n`;
          const n = buffer.write(line);
          expected.push(line);
          await batch.write(buffer.subarray(0, n), 1);
          buffer.fill(0x21); // what the next read would leave there
        }
        await batch.seal();
        const stored = readFileSync(join(dir, 'open'));
        const text =
          codec === 'gzip'
            ? gunzipSync(stored)
            : codec === 'zstd'
              ? zstdDecompressSync(stored)
              : stored;
        expect(text.toString()).toBe(expected.join(''));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('ship-logs records and keys', () => {
  it('wraps each line as one JSON record with the task metadata', () => {
    const at = new Date('2026-03-04T05:06:07.000Z');
    const out = toNdjson(Buffer.from('hello "world"\nsecond\n'), '/var/log/a.log', task, at);
    const records = out
      .toString()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    expect(records).toEqual([
      {
        timestamp: '2026-03-04T05:06:07.000Z',
        file: '/var/log/a.log',
        message: 'hello "world"',
        hostname: 'host-1',
        cluster: 'prod',
        family: 'web',
        taskId: 'abc123',
      },
      expect.objectContaining({ message: 'second' }),
    ]);
  });

  it('gives UTC time parts, the task fields and a 10-digit sequence', () => {
    const fields = keyFields(task, {
      seq: 42,
      openedAt: new Date('2026-12-31T23:59:00.000Z'),
      ext: '.log.gz',
    });
    expect(fields).toMatchObject({
      yyyy: '2026',
      MM: '12',
      dd: '31',
      HH: '23',
      mm: '59',
      taskId: 'abc123',
      seq: '0000000042',
      ext: '.log.gz',
    });
  });

  it('takes the task from the run: outside ECS cluster and family are none and the task id is the host name', () => {
    const local = shipperTask({ ecs: false, hostname: 'box-7' });
    expect(local).toEqual({
      ecs: false,
      hostname: 'box-7',
      cluster: 'none',
      family: 'none',
      taskId: 'box-7',
    });
    expect(keyFields(local, { seq: 1, openedAt: new Date(0), ext: '.log' })).toMatchObject({
      hostname: 'box-7',
      cluster: 'none',
      family: 'none',
      taskId: 'box-7',
    });
    // Outside ECS the records carry the host name only.
    const record = JSON.parse(toNdjson(Buffer.from('x\n'), '-', local, new Date(0)).toString());
    expect(Object.keys(record)).toEqual(['timestamp', 'file', 'message', 'hostname']);
    const ecs = shipperTask({
      ecs: true,
      hostname: 'ip-10-0-0-1',
      cluster: 'prod',
      clusterArn: 'arn:aws:ecs:eu-west-1:123456789012:cluster/prod',
      taskId: '0123456789abcdef',
      family: 'web-app',
      revision: '7',
    });
    expect(ecs).toMatchObject({ cluster: 'prod', family: 'web-app', taskId: '0123456789abcdef' });
  });
});

describe('ship-logs config', () => {
  const parse = (input: Record<string, unknown>) =>
    shipLogsConfigSchema.safeParse({ output: 's3://logs-bucket/app/', ...input });

  it('refuses a key template without {seq} or with an unknown placeholder', () => {
    const noSeq = parse({ path: ['/var/log/*.log'], keyTemplate: '{yyyy}/{taskId}.log' });
    expect(noSeq.success).toBe(false);
    expect(JSON.stringify(noSeq.error?.issues)).toContain('must contain {seq}');
    const unknown = parse({ path: ['/var/log/*.log'], keyTemplate: '{day}/{seq}' });
    expect(JSON.stringify(unknown.error?.issues)).toContain('unknown placeholder {day}');
  });

  it('refuses stdin mixed with files, and a gzip level above 9', () => {
    const config = parse({
      path: ['-', '/var/log/a.log'],
      compressionLevel: 12,
    });
    expect(config.success).toBe(true);
    const problems = shipLogsConfigProblems(config.data!);
    expect(problems.map((p) => p.path)).toEqual(['path', 'compressionLevel']);
  });
});

describe('ship-logs globs', () => {
  it('lists matching files, descends only for ** and leaves out excluded names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 's3worker-glob-'));
    try {
      mkdirSync(join(dir, 'sub'));
      for (const name of ['a.log', 'a.log.1', 'a.log.2.gz', 'b.txt', 'sub/c.log']) {
        writeFileSync(join(dir, name), 'x\n');
      }
      const flat = await expandGlobs([join(dir, '*.log*')], ['*.gz']);
      expect(flat).toEqual([join(dir, 'a.log'), join(dir, 'a.log.1')]);
      const deep = await expandGlobs([join(dir, '**/*.log')], []);
      expect(deep).toEqual([join(dir, 'a.log'), join(dir, 'sub/c.log')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('s3worker policy ship-logs', () => {
  it('grants writes, aborts and the HeadObject of collisions under the output prefix only', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((c) => {
      out.push(String(c));
      return true;
    });
    const code = await policyCommand(
      ['ship-logs', '--path', '/var/log/app/*.log', '--output', 's3://logs-bucket/app/'],
      {},
      {},
    );
    vi.restoreAllMocks();
    expect(code).toBe(ExitCode.Success);
    const doc = JSON.parse(out.join('')) as PolicyDocument;
    const text = JSON.stringify(doc);
    for (const action of [
      's3:PutObject',
      's3:AbortMultipartUpload',
      's3:GetObject',
      's3:ListBucketMultipartUploads',
    ]) {
      expect(text).toContain(action);
    }
    expect(text).toContain('arn:aws:s3:::logs-bucket/app/*');
    expect(text).not.toContain('s3:DeleteObject');
  });
});
