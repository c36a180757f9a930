import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DumpGuard } from '../../src/jobs/db-backup/dump-guard.js';
import type { DumpPlan } from '../../src/jobs/db-backup/engines/engine.js';
import { SecretDir } from '../../src/jobs/db-backup/secret-dir.js';
import { ToolOutput } from '../../src/jobs/db-backup/tool-output.js';
import { startTool, type ToolExit } from '../../src/jobs/db-backup/tool-process.js';

/** A child that writes `total` bytes (a counter pattern, in pieces of 1 to 200,000 bytes). */
function writerScript(total: number): string {
  return `
    const total = ${total};
    let seed = 7, at = 0;
    const next = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed; };
    const write = () => {
      while (at < total) {
        const n = Math.min(total - at, 1 + (next() % 200000));
        const piece = Buffer.alloc(n);
        for (let i = 0; i < n; i++) piece[i] = (at + i) % 251;
        at += n;
        if (!process.stdout.write(piece)) { process.stdout.once('drain', write); return; }
      }
    };
    write();`;
}

function expectedDigest(total: number): string {
  const all = Buffer.alloc(total);
  for (let i = 0; i < total; i++) all[i] = i % 251;
  return createHash('sha256').update(all).digest('hex');
}

function nodeTool(script: string) {
  return { tool: 'node', command: process.execPath, args: ['-e', script], env: {} };
}

describe('ToolOutput: a tool stdout read into one reused buffer', () => {
  let dir: SecretDir;
  beforeEach(async () => {
    dir = await SecretDir.create(tmpdir());
  });
  afterEach(async () => {
    await dir.dispose();
  });

  it('hands a slow sink every byte in order, each read in the same buffer, and ends with the tool', async () => {
    const total = 6 * 1024 * 1024 + 12345;
    const output = await ToolOutput.open(dir.path, 64 * 1024);
    const tool = startTool(nodeTool(writerScript(total)), { stdout: output });
    expect(tool.stdout).toBeNull();
    const hash = createHash('sha256');
    const buffers = new Set<ArrayBufferLike>();
    let writes = 0;
    // Most writes the sink takes at once; every third it takes only later: a reader that read
    // on before that callback would overwrite the bytes and the digest would differ.
    let later = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        buffers.add(chunk.buffer);
        writes++;
        if (writes % 3 !== 0) {
          hash.update(chunk);
          done();
          return;
        }
        later++;
        setTimeout(
          () => {
            hash.update(chunk);
            done();
          },
          writes % 7 === 0 ? 2 : 0,
        );
      },
    });
    let observed = 0;
    await output.pumpTo(sink, (view) => {
      observed += view.length;
    });
    expect((await tool.exited).code).toBe(0);
    expect(observed).toBe(total);
    expect(hash.digest('hex')).toBe(expectedDigest(total));
    expect(writes).toBeGreaterThan(total / (64 * 1024));
    expect(buffers.size).toBe(1);
    expect(later).toBeGreaterThan(10);
  });

  it('refuses a temporary folder too deep for a socket path, and fails (not hangs) where it cannot listen', async () => {
    const deep = join(dir.path, 'x'.repeat(120));
    await expect(ToolOutput.open(deep)).rejects.toMatchObject({ code: 'TMPDIR_TOO_LONG' });
    // A folder that does not exist: the listen fails (Node reports EACCES for it).
    await expect(ToolOutput.open(join(dir.path, 'missing'))).rejects.toMatchObject({
      syscall: 'listen',
    });
  });

  it('resolves with nothing written when the tool writes nothing', async () => {
    const output = await ToolOutput.open(dir.path);
    const tool = startTool(nodeTool(''), { stdout: output });
    let writes = 0;
    const sink = new Writable({
      write(_chunk, _enc, done) {
        writes++;
        done();
      },
    });
    await output.pumpTo(sink);
    expect((await tool.exited).code).toBe(0);
    expect(writes).toBe(0);
  });

  it('rejects when the sink fails, and the tool is not left writing into a pipe nobody reads', async () => {
    const output = await ToolOutput.open(dir.path);
    const tool = startTool(nodeTool(`${writerScript(64 * 1024 * 1024)}`), { stdout: output });
    let writes = 0;
    const sink = new Writable({
      write(_chunk, _enc, done) {
        writes++;
        done(writes === 5 ? new Error('the upload failed') : null);
      },
    });
    sink.on('error', () => {});
    await expect(output.pumpTo(sink)).rejects.toThrow('the upload failed');
    // The tool's next write finds the pipe closed.
    const exit = await tool.exited;
    expect(exit.code !== 0 || exit.signal !== null).toBe(true);
  });
});

describe('DumpGuard', () => {
  const guardFor = (exit: ToolExit, seen: { head?: Buffer; tail?: Buffer }, minBytes = 0) =>
    new DumpGuard({
      plan: {
        kind: 'database',
        format: 'custom',
        extension: 'dump',
        command: { tool: 'pg_dump', command: '/bin/false', args: [], env: {} },
        completeness: (head, tail) => {
          seen.head = Buffer.from(head);
          seen.tail = Buffer.from(tail);
          return head.subarray(0, 5).toString('latin1') === 'PGDMP' ? undefined : 'no PGDMP';
        },
      } satisfies DumpPlan,
      exited: Promise.resolve(exit),
      stderr: () => 'pg_dump: error: connection refused',
      minBytes,
    });

  it('keeps the first 16 and last 512 bytes of output read in pieces of any size into one reused buffer', async () => {
    const all = Buffer.concat([Buffer.from('PGDMP'), Buffer.alloc(20000)]);
    for (let i = 5; i < all.length; i++) all[i] = (i * 31) % 256;
    const reused = Buffer.alloc(4096);
    const seen: { head?: Buffer; tail?: Buffer } = {};
    const guard = guardFor({ code: 0, signal: null }, seen);
    let at = 0;
    let step = 1;
    while (at < all.length) {
      const n = Math.min(all.length - at, (step * 37) % 1500 || 3);
      all.copy(reused, 0, at, at + n);
      guard.observe(reused.subarray(0, n));
      reused.fill(0xee);
      at += n;
      step++;
    }
    await guard.verdict();
    expect(guard.bytes).toBe(all.length);
    expect(seen.head).toEqual(all.subarray(0, 16));
    expect(seen.tail).toEqual(all.subarray(all.length - 512));
  });

  it("rejects with the tool's own words when it failed, and below the minimum size", async () => {
    const failed = guardFor({ code: 1, signal: null }, {});
    failed.observe(Buffer.from('PGDMP-partial'));
    await expect(failed.verdict()).rejects.toThrow(
      /exited with code 1: pg_dump: error: connection refused/,
    );
    const small = guardFor({ code: 0, signal: null }, {}, 1000);
    small.observe(Buffer.from('PGDMP-tiny'));
    await expect(small.verdict()).rejects.toThrow(/below the minimum of 1000/);
    const wrong = guardFor({ code: 0, signal: null }, {});
    wrong.observe(Buffer.from('not a dump at all'));
    await expect(wrong.verdict()).rejects.toThrow(/not a complete dump: no PGDMP/);
  });
});
