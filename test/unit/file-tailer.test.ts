import {
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileTailer, type FileTailerOptions } from '../../src/jobs/ship-logs/file-tailer.js';
import { rotatedNames } from '../../src/jobs/ship-logs/glob-paths.js';
import type { FilePosition, SourceEvent } from '../../src/jobs/ship-logs/source-event.js';
import { FINGERPRINT_BYTES, sha256 } from '../../src/jobs/ship-logs/tracked-file.js';
import { LogWriter, numberedLine, waitUntil } from '../fixtures/ship-logs/harness.js';

let dir: string;
const stops: AbortController[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 's3worker-file-tailer-'));
});
afterEach(async () => {
  for (const stop of stops.splice(0)) stop.abort();
  // Let the generators' finally blocks close their handles before the folder goes.
  await sleep(20);
  rmSync(dir, { recursive: true, force: true });
});

/** One event as the test keeps it: the lines copied out of the shared read buffer. */
type Seen =
  | { kind: 'lines'; path: string; lines: string[]; id: string | undefined }
  | { kind: 'position'; id: string; offset: number }
  | { kind: 'forget'; id: string };

/**
 * Pulls a tailer's events only when told to, as the shipper does (a consumer that stops pulling
 * is backpressure: the tailer reads nothing meanwhile, but its scans go on).
 */
class Pump {
  readonly seen: Seen[] = [];
  /**
   * `checkpoints[i]`: the positions a checkpoint holds when a batch sealed right after the
   * first `i` events (by file id, forgotten files removed).
   */
  readonly checkpoints: Array<ReadonlyMap<string, FilePosition>> = [new Map()];
  readonly tailer: FileTailer;
  readonly #events: AsyncIterator<SourceEvent>;
  #next: Promise<IteratorResult<SourceEvent>> | undefined;

  constructor(options: Partial<FileTailerOptions> & { patterns: string[] }) {
    this.tailer = new FileTailer({
      exclude: [],
      startAtEnd: false,
      resume: new Map(),
      pollInterval: 20,
      rotateWait: 300,
      maxLineBytes: 64 * 1024,
      log: pino({ level: 'silent' }),
      ...options,
    });
    const stop = new AbortController();
    stops.push(stop);
    this.#events = this.tailer.events(stop.signal)[Symbol.asyncIterator]();
  }

  /** Pulls events until `done` holds (checked after each event), for at most `timeoutMs`. */
  async until(done: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; seen: ${this.describe()}`);
      this.#next ??= this.#events.next();
      const got = await Promise.race([this.#next, sleep(left).then(() => undefined)]);
      if (got === undefined) continue;
      this.#next = undefined;
      if (got.done) throw new Error(`events ended while waiting for ${what}`);
      this.#record(got.value);
    }
  }

  /** The numbered lines seen, in the order they came. */
  lines(): string[] {
    return this.seen.flatMap((e) => (e.kind === 'lines' ? e.lines : []));
  }

  /** Index of the first event matching `match` (-1 when none). */
  indexOf(match: (e: Seen) => boolean): number {
    return this.seen.findIndex(match);
  }

  describe(): string {
    return JSON.stringify(
      this.seen.map((e) =>
        e.kind === 'lines'
          ? { kind: e.kind, path: e.path, first: e.lines[0], last: e.lines.at(-1) }
          : e,
      ),
    ).slice(-3000);
  }

  #record(event: SourceEvent): void {
    const checkpoint = new Map(this.checkpoints.at(-1));
    if (event.kind === 'forget') checkpoint.delete(event.id);
    else if (event.position) checkpoint.set(event.position.id, event.position);
    this.checkpoints.push(checkpoint);
    if (event.kind === 'lines') {
      const text = event.data.toString('utf8');
      this.seen.push({
        kind: 'lines',
        path: event.path,
        lines: text.replace(/\n$/, '').split('\n'),
        id: event.position?.id,
      });
    } else if (event.kind === 'position') {
      this.seen.push({ kind: 'position', id: event.position.id, offset: event.position.offset });
    } else {
      this.seen.push({ kind: 'forget', id: event.id });
    }
  }
}

/** The numbered lines `from`..`to` of `tag`. */
function range(tag: string, from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => numberedLine(tag, from + i));
}

/** The tailer's id of the file at `path` (device and inode). */
function fileId(path: string): string {
  const st = statSync(path, { bigint: true });
  return `${st.dev}:${st.ino}`;
}

describe('FileTailer and files rotated out of its glob', () => {
  it('reads a file renamed out of the glob to its end before the new file at its path, then forgets it: missing → rotate-wait → finish → forget', async () => {
    const log = join(dir, 'app.log');
    const writer = new LogWriter(log);
    try {
      writer.write('a', 100);
      const pump = new Pump({ patterns: [join(dir, '*.log')] });
      await pump.until(() => pump.lines().length === 100, 'the first 100 lines');
      const oldId = fileId(log);
      // Several reads' worth (about 4 MiB) behind when the rotation comes, and the new file
      // written at once: order is only kept if the renamed file is finished first.
      writer.write('a', 100_000);
      writer.rotateByRename();
      writer.write('a', 100);
      const newId = fileId(log);
      const total = 100_200;
      await pump.until(() => pump.lines().length === total, 'every line');
      expect(pump.lines()).toEqual(range('a', 1, total));
      // Read through the handle under the old path, then the new file under the same path.
      const fromOld = pump.seen.filter((e) => e.kind === 'lines' && e.id === oldId);
      expect(fromOld.flatMap((e) => (e.kind === 'lines' ? e.lines : [])).at(-1)).toBe(
        numberedLine('a', 100_100),
      );
      // Missing but not yet quiet for rotate-wait: still open, nothing forgotten.
      expect(pump.indexOf((e) => e.kind === 'forget')).toBe(-1);
      await pump.until(() => pump.indexOf((e) => e.kind === 'forget') >= 0, 'the forget');
      expect(pump.seen.filter((e) => e.kind === 'forget')).toEqual([{ kind: 'forget', id: oldId }]);
      // The new file is followed on; the forgotten one is closed.
      writer.write('a', 10);
      await pump.until(() => pump.lines().length === total + 10, 'lines after the forget');
      expect(pump.lines().slice(total)).toEqual(range('a', total + 1, total + 10));
      expect(pump.tailer.openFiles).toBe(1);
      const last = pump.seen.findLast((e) => e.kind === 'lines');
      expect(last?.kind === 'lines' && last.id).toBe(newId);
    } finally {
      writer.close();
    }
  });

  it('reads on a renamed file that keeps growing, and forgets it only once it was quiet for rotate-wait', async () => {
    const log = join(dir, 'app.log');
    const writer = new LogWriter(log);
    const rotateWait = 1_500;
    try {
      writer.write('a', 10);
      const pump = new Pump({ patterns: [join(dir, '*.log')], rotateWait });
      await pump.until(() => pump.lines().length === 10, 'the first lines');
      const oldId = fileId(log);
      // The writer has not noticed the rotation: it writes on into the renamed file, in bursts
      // closer together than rotate-wait, for longer than rotate-wait.
      writer.renameAway();
      const started = Date.now();
      while (Date.now() - started < 2 * rotateWait) {
        writer.write('a', 10);
        const want = writer.written;
        await pump.until(() => pump.lines().length === want, `line ${want}`);
        expect(pump.indexOf((e) => e.kind === 'forget')).toBe(-1);
        await sleep(100);
      }
      const lastOld = writer.written;
      writer.reopen();
      writer.write('a', 10);
      await pump.until(() => pump.indexOf((e) => e.kind === 'forget') >= 0, 'the forget');
      await pump.until(() => pump.lines().length === lastOld + 10, 'the new file');
      expect(pump.lines()).toEqual(range('a', 1, lastOld + 10));
      const forget = pump.indexOf((e) => e.kind === 'forget');
      expect(pump.seen[forget]).toEqual({ kind: 'forget', id: oldId });
      const lastFromOld = pump.seen.findLastIndex((e) => e.kind === 'lines' && e.id === oldId);
      expect(forget).toBeGreaterThan(lastFromOld);
    } finally {
      writer.close();
    }
  });

  it('reads a renamed file to its end when it grew after a scan found it finished, before its forget was handed on', async () => {
    const log = join(dir, 'app.log');
    const writer = new LogWriter(log);
    const rotateWait = 100;
    try {
      writer.write('a', 10);
      const pump = new Pump({ patterns: [join(dir, '*.log')], rotateWait });
      await pump.until(() => pump.lines().length === 10, 'the first lines');
      writer.renameAway();
      writer.write('a', 10);
      await pump.until(() => pump.lines().length === 20, 'the lines after the rename');
      // The consumer stops pulling (a full spool). The scans go on: once one ran after the file
      // was quiet for rotate-wait, the file is finished.
      const quietFrom = Date.now();
      await waitUntil('rotate-wait', () => Date.now() - quietFrom > rotateWait);
      const scans = pump.tailer.scans;
      await waitUntil('two scans after rotate-wait', () => pump.tailer.scans >= scans + 2);
      // Then the late writer writes more than one turn of reading (16 MiB) into it.
      for (let i = 0; i < 10; i++) writer.write('a', 50_000);
      const total = writer.written;
      await pump.until(() => pump.indexOf((e) => e.kind === 'forget') >= 0, 'the forget');
      expect(pump.lines().length).toBe(total);
      expect(pump.lines()).toEqual(range('a', 1, total));
    } finally {
      writer.close();
    }
  });

  it('ships a file that was created and rotated away between two scans', async () => {
    const log = join(dir, 'app.log');
    const writer = new LogWriter(log);
    try {
      writer.write('a', 10);
      const first = fileId(log);
      // Scans far apart: only the first one runs before the rotations.
      const pump = new Pump({ patterns: [join(dir, '*.log')], pollInterval: 1_500 });
      await pump.until(() => pump.lines().length === 10, 'the first lines');
      expect(pump.tailer.scans).toBe(1);
      // In one go, no scan in between: app.log → app.log.1, a new app.log written, that one
      // → app.log.1 (the first → app.log.2), and a third app.log.
      writer.write('a', 10);
      writer.rotateByRename();
      writer.write('a', 10);
      writer.rotateByRename();
      writer.write('a', 10);
      const middle = fileId(`${log}.1`);
      await pump.until(() => pump.lines().length >= 40, 'every line', 10_000);
      expect(pump.lines()).toEqual(range('a', 1, 40));
      expect(
        pump.seen.some((e) => e.kind === 'lines' && e.id === middle && e.path === `${log}.1`),
      ).toBe(true);
      // Both rotated files are finished like every file rotated away, once read and quiet.
      await pump.until(
        () => pump.seen.filter((e) => e.kind === 'forget').length === 2,
        'both rotated files forgotten',
      );
      const forgotten = pump.seen.flatMap((e) => (e.kind === 'forget' ? [e.id] : []));
      expect(forgotten.sort()).toEqual([first, middle].sort());
    } finally {
      writer.close();
    }
  });

  it('does not read a rotation older than the last scan when the path gets a new file', async () => {
    const log = join(dir, 'app.log');
    // Rotations from before the tailer started, last written an hour ago.
    const old = new LogWriter(log);
    old.write('old', 10);
    old.rotateByRename();
    old.write('old', 10);
    old.rotateByRename();
    old.close();
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const n of [1, 2]) utimesSync(`${log}.${n}`, hourAgo, hourAgo);
    const writer = new LogWriter(log);
    try {
      writer.write('a', 10);
      const pump = new Pump({ patterns: [join(dir, '*.log')] });
      await pump.until(() => pump.lines().length === 10, 'the first lines');
      const scans = pump.tailer.scans;
      await waitUntil('a scan', () => pump.tailer.scans > scans);
      writer.rotateByRename();
      writer.write('a', 10);
      await pump.until(() => pump.lines().length >= 20, 'the new file');
      await pump.until(() => pump.indexOf((e) => e.kind === 'forget') >= 0, 'the forget');
      expect(pump.lines()).toEqual(range('a', 1, 20));
    } finally {
      writer.close();
    }
  });
});

/** The checkpoint entry of the file at `path` read up to its current end, as a restart gets it. */
function checkpointed(path: string): FilePosition {
  const head = readFileSync(path).subarray(0, FINGERPRINT_BYTES);
  return {
    id: fileId(path),
    fingerprint: sha256(head),
    fingerprintBytes: head.length,
    offset: statSync(path).size,
    path,
  };
}

describe('FileTailer at a restart, and files rotated out of its glob while the shipper was down', () => {
  it('reads the checkpointed file, now at app.log.1, on from its checkpoint offset to its end before the new app.log, then forgets it', async () => {
    const log = join(dir, 'app.log');
    const writer = new LogWriter(log);
    try {
      writer.write('a', 60);
      const saved = checkpointed(log);
      // Down: more than one turn of reading (16 MiB) that nobody read, then logrotate renames
      // the file and the application writes on into a new one. Order is kept only if the
      // renamed file is read to its end before the new file gets a turn.
      writer.write('a', 600_000);
      writer.rotateByRename();
      writer.write('a', 20);
      const newId = fileId(log);
      const total = 600_080;
      const pump = new Pump({
        patterns: [join(dir, '*.log')],
        resume: new Map([[saved.id, saved]]),
      });
      await pump.until(() => pump.lines().at(-1) === numberedLine('a', total), 'the new file');
      expect(pump.lines()).toEqual(range('a', 61, total));
      // Under the path it was followed by, so that a later restart finds it the same way.
      const fromOld = pump.seen.filter((e) => e.kind === 'lines' && e.id === saved.id);
      expect(fromOld.every((e) => e.kind === 'lines' && e.path === log)).toBe(true);
      expect(fromOld.flatMap((e) => (e.kind === 'lines' ? e.lines : [])).at(-1)).toBe(
        numberedLine('a', total - 20),
      );
      await pump.until(() => pump.indexOf((e) => e.kind === 'forget') >= 0, 'the forget');
      expect(pump.seen.filter((e) => e.kind === 'forget')).toEqual([
        { kind: 'forget', id: saved.id },
      ]);
      // The new file is followed on; the forgotten one is closed.
      writer.write('a', 10);
      await pump.until(() => pump.lines().length === total - 50, 'lines after the forget');
      expect(pump.lines().slice(total - 60)).toEqual(range('a', total + 1, total + 10));
      expect(pump.tailer.openFiles).toBe(1);
      const last = pump.seen.findLast((e) => e.kind === 'lines');
      expect(last?.kind === 'lines' && last.id).toBe(newId);
    } finally {
      writer.close();
    }
  });

  it('reads two checkpointed files of one path, now at app.log.2 and app.log.1, each from its offset, oldest first, before the new app.log', async () => {
    const log = join(dir, 'app.log');
    const writer = new LogWriter(log);
    try {
      writer.write('a', 60);
      const older = checkpointed(log);
      writer.write('a', 40);
      // Renamed away while the shipper ran: it was still reading it when it stopped.
      writer.rotateByRename();
      writer.write('a', 50);
      const newer = checkpointed(log);
      writer.write('a', 50);
      // Down: a second rotation moves both out of the glob.
      writer.rotateByRename();
      writer.write('a', 20);
      const pump = new Pump({
        patterns: [join(dir, '*.log')],
        resume: new Map([
          [older.id, older],
          [newer.id, newer],
        ]),
      });
      await pump.until(() => pump.lines().includes(numberedLine('a', 220)), 'the new file');
      expect(pump.lines()).toEqual([...range('a', 61, 100), ...range('a', 151, 220)]);
      await pump.until(
        () => pump.seen.filter((e) => e.kind === 'forget').length === 2,
        'both rotated files forgotten',
      );
      const forgotten = pump.seen.flatMap((e) => (e.kind === 'forget' ? [e.id] : []));
      expect(forgotten.sort()).toEqual([older.id, newer.id].sort());
    } finally {
      writer.close();
    }
  });

  it('warns with the path and the offset read when the checkpointed file was rotated and deleted while the shipper was down', async () => {
    const log = join(dir, 'app.log');
    const writer = new LogWriter(log);
    const logged: Array<Record<string, unknown>> = [];
    try {
      writer.write('a', 60);
      const saved = checkpointed(log);
      writer.write('a', 40);
      writer.rotateByRename();
      unlinkSync(`${log}.1`);
      writer.write('a', 20);
      const pump = new Pump({
        patterns: [join(dir, '*.log')],
        resume: new Map([[saved.id, saved]]),
        log: pino({ level: 'warn' }, { write: (line: string) => logged.push(JSON.parse(line)) }),
      });
      await pump.until(() => pump.lines().includes(numberedLine('a', 120)), 'the new file');
      expect(pump.lines()).toEqual(range('a', 101, 120));
      expect(logged.filter((l) => l.readUpTo !== undefined)).toEqual([
        expect.objectContaining({ level: 40, path: log, readUpTo: saved.offset }),
      ]);
    } finally {
      writer.close();
    }
  });
});

/** Every line a tailer resuming from `resume` reads until each file is read to its end. */
async function linesOnRestart(
  patterns: string[],
  resume: ReadonlyMap<string, FilePosition>,
): Promise<string[]> {
  const tailer = new FileTailer({
    patterns,
    exclude: [],
    startAtEnd: false,
    resume,
    pollInterval: 20,
    rotateWait: 300,
    maxLineBytes: 64 * 1024,
    log: pino({ level: 'silent' }),
  });
  const lines: string[] = [];
  for await (const event of tailer.events(new AbortController().signal, { once: true })) {
    if (event.kind === 'lines') {
      lines.push(...event.data.toString('utf8').replace(/\n$/, '').split('\n'));
    }
  }
  return lines;
}

describe('FileTailer, a copytruncate and a crash', () => {
  it('at a restart from the checkpoint of any point after a copytruncate, reads every line once: the copy on from where the original stopped', async () => {
    const log = join(dir, 'app.log');
    const patterns = [join(dir, '*.log*')];
    const writer = new LogWriter(log);
    try {
      writer.write('a', 100);
      const pump = new Pump({ patterns });
      await pump.until(() => pump.lines().length === 100, 'the first 100 lines');
      // The copy holds lines the shipper has not read yet; the file gets new lines at once.
      writer.write('a', 50);
      writer.copyTruncate();
      writer.write('a', 30);
      await pump.until(() => pump.lines().length === 180, 'every line');
      expect([...pump.lines()].sort()).toEqual(range('a', 1, 180));
      // A batch may seal after any event (its age, its size) and a crash follow before the next:
      // whatever the checkpoint then holds, a restart reads what came after it, and only that.
      for (let cut = 0; cut <= pump.seen.length; cut++) {
        const shipped = pump.seen.slice(0, cut).flatMap((e) => (e.kind === 'lines' ? e.lines : []));
        const again = await linesOnRestart(patterns, pump.checkpoints[cut]!);
        expect({ cut, lines: [...shipped, ...again].sort() }).toEqual({
          cut,
          lines: range('a', 1, 180),
        });
      }
    } finally {
      writer.close();
    }
  });
});

describe('rotation names of a followed path', () => {
  it('are the name plus a suffix after `.`, `-` or `_`, without the excluded ones', async () => {
    for (const name of [
      'app.log',
      'app.log.1',
      'app.log-20260101',
      'app.log_old',
      'app.log.2.gz',
    ]) {
      writeFileSync(join(dir, name), '');
    }
    for (const name of ['app.logger', 'app.log.', 'other.log.1', 'xapp.log.1']) {
      writeFileSync(join(dir, name), '');
    }
    const names = await rotatedNames(join(dir, 'app.log'), ['*.gz']);
    expect(names.sort()).toEqual(
      ['app.log-20260101', 'app.log.1', 'app.log_old'].map((n) => join(dir, n)).sort(),
    );
  });
});
