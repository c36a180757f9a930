import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { expandGlobs, rotatedNames } from './glob-paths.js';
import { ReadBuffer } from './line-splitter.js';
import type { AwaitedCopy, FilePosition, SourceEvent } from './source-event.js';
import {
  FINGERPRINT_BYTES,
  hashRange,
  TRUNCATION_MEMORY_MS,
  TrackedFile,
  type TruncationRecord,
} from './tracked-file.js';

/** Bytes read from a file per read call. */
const READ_CHUNK = 1024 * 1024;
/** Bytes read from one file before the others get a turn. */
const TURN_BYTES = 16 * 1024 * 1024;
const MAX_TRUNCATION_RECORDS = 64;
/** How far file times may lag Date.now() (file systems stamp times from a coarser clock). */
const FILE_CLOCK_SLACK_MS = 100;

/** Where reading a newly tracked file starts, and the truncation records it takes part in. */
interface StartOffset {
  offset: number;
  /** For the log: where the offset comes from. */
  from: string;
  /** The truncation this file is the copy of (its original drops it once this file is followed). */
  claimed?: TruncationRecord;
  /** The file's own truncations still waiting for their copies. */
  copiesAwaited?: AwaitedCopy[];
}

/** Options of {@link FileTailer}. */
export interface FileTailerOptions {
  /** Paths or globs to follow. */
  patterns: readonly string[];
  /** Globs of files never read. */
  exclude: readonly string[];
  /** Files found by the very first scan of a first start begin at their end (else at 0). */
  startAtEnd: boolean;
  /** Positions to resume from, by file id (the checkpoint with the spooled batches applied). */
  resume: ReadonlyMap<string, FilePosition>;
  /**
   * Runs once, after the first scan and before any read, with where each file found starts
   * (none when no file matched yet); reading waits for it, and its failure ends `events()`.
   * A first start records these positions, so a crash before anything was acknowledged cannot
   * make the next start a first start again.
   */
  afterFirstScan?: (positions: FilePosition[]) => Promise<void>;
  /** How often files and globs are checked (ms). */
  pollInterval: number;
  /** How long a file rotated away stays open after its last growth (ms). */
  rotateWait: number;
  maxLineBytes: number;
  log: Logger;
}

/**
 * Follows files by glob with `tail -F` semantics, by identity (device and inode) rather than by
 * name:
 * - a file renamed (rotated) is still read through its open handle to its end, and the file
 *   that takes its path is not read before that (lines stay in order across a rotation);
 * - a truncated file (copytruncate) is read again from its start; if a glob also matches the
 *   copy, the copy is recognised by the fingerprint of its first bytes and read from where the
 *   original stopped, so the lines written between the last read and the truncation are not
 *   lost (and nothing is read twice);
 * - new files that match are picked up at every scan, also while the consumer applies
 *   backpressure, so several rotations during a pause lose nothing: every file is held open
 *   from the scan that first sees it;
 * - a file rotated away (out of every glob, or deleted) is closed once read to its end and
 *   quiet for `rotateWait`;
 * - at a restart, a checkpointed file rotated out of the glob while the shipper was down is
 *   found under a rotation name of its path and read on from its checkpoint offset, before the
 *   file now at its path.
 *
 * The consumer pulls: `events()` reads only when asked, so a paused consumer pauses reading.
 */
export class FileTailer {
  readonly #options: FileTailerOptions;
  readonly #log: Logger;
  /** Tracked files in the order they were first seen. */
  readonly #files = new Map<string, TrackedFile>();
  /** Which file each path held at the last scan. */
  #pathOwner = new Map<string, string>();
  readonly #resume: Map<string, FilePosition>;
  #truncations: TruncationRecord[] = [];
  /** Events produced by scans (new files, truncations), handed on before the next lines. */
  readonly #pending: SourceEvent[] = [];
  #scans = 0;
  /** One read buffer for every file followed: reads take turns, and each read's lines are used before the next. */
  readonly #readBuffer = new ReadBuffer();
  /** Files rotated away and finished: their partial line and a forget are handed on, then they close. */
  readonly #finished = new Set<TrackedFile>();
  /** Copies waiting for their original's truncation, by id (logged once). */
  readonly #pendingCopies = new Set<string>();
  #firstScan = true;
  /** When the last scan started (Date.now()). */
  #lastScanAt: number | undefined;
  #lock: Promise<unknown> = Promise.resolve();

  constructor(options: FileTailerOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#resume = new Map(options.resume);
    // Truncations whose copies were not acknowledged before the last stop: a copy found now
    // is read on from where its original stopped, not from its start.
    for (const saved of options.resume.values()) {
      for (const awaited of saved.copiesAwaited ?? []) {
        this.#remember({ ...awaited, path: saved.path, fileId: saved.id });
      }
    }
  }

  /** Files open right now. */
  get openFiles(): number {
    return this.#files.size;
  }

  /**
   * Lines and position changes, in read order. Ends when `stop` aborts, after reading what the
   * files held at that moment (partial lines excepted); at once when `abort` aborts; or, with
   * `once`, when every file was read to its end (partial last lines included).
   */
  async *events(
    stop: AbortSignal,
    options: { once?: boolean; abort?: AbortSignal } = {},
  ): AsyncGenerator<SourceEvent> {
    const { pollInterval } = this.#options;
    const once = options.once === true;
    const abort = options.abort;
    // Scans also run while the consumer holds the generator suspended (backpressure): a file
    // rotated twice during a pause is opened before its name is taken again.
    const timer = setInterval(() => {
      void this.#exclusive(() => this.#scan()).catch((err: unknown) =>
        this.#log.warn({ err }, 'file scan failed'),
      );
    }, pollInterval);
    /** Where each file ended when the stop came: reading goes that far and no further. */
    let stopSizes: Map<TrackedFile, number> | undefined;
    try {
      await this.#exclusive(async () => {
        await this.#scan();
        await this.#options.afterFirstScan?.([...this.#files.values()].map((f) => f.position()));
      });
      for (;;) {
        if (abort?.aborted) return;
        if (stop.aborted && stopSizes === undefined) {
          // Files created since the last scan count too.
          await this.#exclusive(() => this.#scan());
          stopSizes = new Map([...this.#files.values()].map((f) => [f, f.size]));
        }
        let progressed = false;
        yield* this.#drainPending();
        for (const file of [...this.#files.values()]) {
          if (file.closed || this.#blocked(file)) continue;
          const until = stopSizes ? (stopSizes.get(file) ?? 0) : Number.POSITIVE_INFINITY;
          let turn = 0;
          while (turn < TURN_BYTES && !abort?.aborted) {
            const event = await this.#exclusive(() => this.#readFile(file, until));
            yield* this.#drainPending();
            if (event === undefined) break;
            progressed = true;
            if (event.kind === 'lines') turn += event.data.length;
            yield event;
          }
        }
        for (const file of [...this.#finished]) yield* this.#finish(file);
        if (once && !progressed) {
          await this.#exclusive(() => this.#scan());
          if ([...this.#files.values()].some((f) => f.hasUnread)) continue;
          // Every file was read to its end: its last line counts even without a newline.
          // The files are not forgotten: the next --once run continues after what this one read.
          for (const file of this.#files.values()) {
            const rest = file.flushPartial();
            if (rest) yield rest;
          }
          return;
        }
        if (stopSizes && !progressed) return;
        if (!progressed && !stop.aborted) {
          await sleep(pollInterval, undefined, { signal: stop }).catch(() => {});
        }
      }
    } finally {
      clearInterval(timer);
      await this.#exclusive(async () => {
        for (const file of this.#files.values()) await file.close();
        this.#files.clear();
      });
    }
  }

  /** Runs file operations one at a time (the scan timer and the reader share the handles). */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return run;
  }

  *#drainPending(): Generator<SourceEvent> {
    while (this.#pending.length > 0) yield this.#pending.shift()!;
  }

  /** A file is not read while a file it replaced at its path still has bytes to read. */
  #blocked(file: TrackedFile): boolean {
    for (const before of file.predecessors) {
      if (before.closed) file.predecessors.delete(before);
      else if (before.hasUnread) return true;
    }
    return false;
  }

  async #readFile(file: TrackedFile, until: number): Promise<SourceEvent | undefined> {
    if (file.closed) return undefined;
    try {
      const truncated = await file.refresh();
      if (truncated) this.#onTruncated(file, truncated);
      return await file.read(READ_CHUNK, until);
    } catch (err) {
      this.#log.warn({ err, path: file.path }, 'could not read a file; retrying at the next scan');
      return undefined;
    }
  }

  /** Hands on a finished file's partial line and forget, and closes it. */
  async *#finish(file: TrackedFile): AsyncGenerator<SourceEvent> {
    this.#finished.delete(file);
    // Written to since the scan that found it finished (while the consumer held the reader):
    // read on; a later scan decides again once it is quiet.
    const grew = await this.#exclusive(async () => {
      const truncated = await file.refresh().catch(() => undefined);
      if (truncated) this.#onTruncated(file, truncated);
      return !file.atEnd;
    });
    if (grew) return;
    this.#log.info(
      { path: file.path, offset: file.lineOffset },
      'rotated file finished; closing it',
    );
    const rest = file.flushPartial();
    if (rest) yield rest;
    yield { kind: 'forget', id: file.id };
    await this.#exclusive(() => file.close());
    this.#files.delete(file.id);
  }

  #onTruncated(file: TrackedFile, record: TruncationRecord): void {
    this.#log.info(
      { path: file.path, readUpTo: record.offset },
      'file truncated; reading it again from the start',
    );
    this.#remember(record);
    this.#pending.push({ kind: 'position', position: file.position() });
  }

  #remember(record: TruncationRecord): void {
    const now = Date.now();
    this.#truncations = [
      record,
      ...this.#truncations.filter((r) => now - r.at < TRUNCATION_MEMORY_MS),
    ].slice(0, MAX_TRUNCATION_RECORDS);
  }

  /**
   * Scans of the glob completed so far: one per poll interval while the tailer is alive, also
   * when no line arrives (what the health check sees of an idle shipper).
   */
  get scans(): number {
    return this.#scans;
  }

  async #scan(): Promise<void> {
    const { patterns, exclude, rotateWait } = this.#options;
    const now = Date.now();
    const since = this.#lastScanAt;
    this.#lastScanAt = now;
    const seen = new Map<string, string>();
    const candidates: Array<{ path: string; id: string; before: string | undefined }> = [];
    for (const path of await expandGlobs(patterns, exclude)) {
      const st = await stat(path, { bigint: true }).catch(() => undefined);
      if (!st?.isFile()) continue;
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) continue;
      seen.set(id, path);
      const file = this.#files.get(id);
      if (file) {
        file.path = path;
        file.missingSince = undefined;
      } else {
        candidates.push({ path, id, before: this.#pathOwner.get(path) });
      }
    }
    for (const file of this.#files.values()) {
      if (!seen.has(file.id)) file.missingSince ??= now;
      try {
        const truncated = await file.refresh();
        if (truncated) this.#onTruncated(file, truncated);
      } catch (err) {
        this.#log.warn({ err, path: file.path }, 'could not check a file');
      }
    }
    // Files found by their checkpointed inode first: what is left of the checkpoint then
    // describes content that moved (a copy made while the shipper was down).
    candidates.sort((a, b) => Number(this.#resume.has(b.id)) - Number(this.#resume.has(a.id)));
    // Where a path changed hands, or its file went missing, a file may have held it between
    // two scans (or while the shipper was down) and already have been rotated out of the glob.
    const { found: passedThrough, gone } =
      since === undefined
        ? await this.#rotatedWhileDown(seen)
        : {
            found: await this.#rotatedSince(since, seen, [
              ...candidates.map((c) => c.path),
              ...[...this.#files.values()].filter((f) => !seen.has(f.id)).map((f) => f.path),
            ]),
            gone: [],
          };
    for (const candidate of candidates) {
      if (this.#firstScan && !this.#resume.has(candidate.id)) this.#retireCheckpoint();
      const file = await this.#track(candidate.path, candidate.id);
      if (!file) continue;
      const before = candidate.before === undefined ? undefined : this.#files.get(candidate.before);
      if (before && before !== file) file.predecessors.add(before);
      for (const earlier of passedThrough?.get(candidate.path) ?? []) {
        file.predecessors.add(earlier);
      }
    }
    if (this.#firstScan) this.#retireCheckpoint();
    for (const saved of gone) {
      // No copy claimed its record either: what it held past the checkpoint went with it (how
      // much is not known: the checkpoint has the offset read, not the size the file reached).
      const unclaimed = this.#truncations.some(
        (r) => r.path === saved.path && r.fingerprint === saved.fingerprint,
      );
      if (unclaimed) {
        this.#log.warn(
          { path: saved.path, readUpTo: saved.offset },
          'followed file deleted while the shipper was down: lines it held after readUpTo, if any, were never shipped',
        );
      }
    }
    this.#firstScan = false;
    this.#pathOwner = new Map([...seen].map(([id, path]) => [path, id]));
    for (const file of this.#files.values()) {
      const quietSince = Math.max(file.missingSince ?? Number.POSITIVE_INFINITY, file.grewAt);
      if (file.missingSince !== undefined && file.atEnd && now - quietSince >= rotateWait) {
        this.#finished.add(file);
      }
    }
    this.#scans++;
  }

  /**
   * Files that took one of `paths` after the last scan started (`since`) and were rotated away
   * before this one (two rotations in one poll interval): untracked files under a rotation name
   * of the path (`rotatedNames`) written since then. Each is followed from its start, after the
   * files that held the path before it, and finished like any file rotated away. By path.
   */
  async #rotatedSince(
    since: number,
    seen: ReadonlyMap<string, string>,
    paths: readonly string[],
  ): Promise<Map<string, TrackedFile[]>> {
    const { exclude, rotateWait } = this.#options;
    // A slack shorter than rotate-wait never finds again a file that was forgotten: that file
    // was quiet for rotate-wait before the scan that finished it.
    const from = since - Math.min(FILE_CLOCK_SLACK_MS, rotateWait / 2);
    const found = new Map<string, TrackedFile[]>();
    for (const path of new Set(paths)) {
      const fresh: Array<{ path: string; id: string; mtime: bigint }> = [];
      for (const rotated of await rotatedNames(path, exclude)) {
        const st = await stat(rotated, { bigint: true }).catch(() => undefined);
        if (!st?.isFile() || Number(st.mtimeMs) < from) continue;
        const id = `${st.dev}:${st.ino}`;
        if (!seen.has(id) && !this.#files.has(id)) {
          fresh.push({ path: rotated, id, mtime: st.mtimeNs });
        }
      }
      // Oldest first: the order in which they held the path.
      fresh.sort((a, b) => (a.mtime < b.mtime ? -1 : a.mtime > b.mtime ? 1 : 0));
      const earlier = [...this.#files.values()].filter((f) => f.path === path && !seen.has(f.id));
      const files: TrackedFile[] = [];
      for (const candidate of fresh) {
        const file = await this.#track(candidate.path, candidate.id);
        if (!file) continue;
        file.missingSince = Date.now();
        for (const before of [...earlier, ...files]) file.predecessors.add(before);
        files.push(file);
      }
      if (files.length > 0) found.set(path, files);
    }
    return found;
  }

  /**
   * At the first scan of a restart: checkpoint entries no glob match claimed, looked up by inode
   * and fingerprint under the rotation names of their recorded path (`rotatedNames`): the file
   * was rotated out of the glob while the shipper was down. Each found is read on from its
   * checkpoint offset, after the ones found before it for that path (the checkpoint lists files
   * in the order they were first seen) and before the file now at the path, keeps its recorded
   * path (a later restart looks it up again the same way), and is finished like any file rotated
   * away. Found by recorded path; `gone`: entries whose file is neither there nor at its path.
   */
  async #rotatedWhileDown(
    seen: ReadonlyMap<string, string>,
  ): Promise<{ found: Map<string, TrackedFile[]>; gone: FilePosition[] }> {
    const found = new Map<string, TrackedFile[]>();
    const gone: FilePosition[] = [];
    for (const saved of [...this.#resume.values()]) {
      if (seen.has(saved.id)) continue;
      let file: TrackedFile | undefined;
      for (const rotated of await rotatedNames(saved.path, this.#options.exclude)) {
        const st = await stat(rotated, { bigint: true }).catch(() => undefined);
        if (st?.isFile() && `${st.dev}:${st.ino}` === saved.id) {
          file = await this.#track(rotated, saved.id, saved);
          break;
        }
      }
      if (!file) {
        // Still at its path, which no glob matches any more (--path changed): not followed.
        const st = await stat(saved.path, { bigint: true }).catch(() => undefined);
        if (st === undefined || `${st.dev}:${st.ino}` !== saved.id) gone.push(saved);
        continue;
      }
      file.missingSince = Date.now();
      const files = found.get(saved.path) ?? [];
      for (const before of files) file.predecessors.add(before);
      found.set(saved.path, [...files, file]);
    }
    return { found, gone };
  }

  /** Checkpoint entries no file claimed by inode become truncation records: a copy may claim them. */
  #retireCheckpoint(): void {
    for (const saved of this.#resume.values()) this.#retireOne(saved);
    this.#resume.clear();
  }

  /**
   * Opens a file seen for the first time and decides where reading starts. `rotatedFrom`: the
   * checkpoint entry of a file rotated away while the shipper was down, now at `path`; it is
   * followed only from that entry's offset (same first bytes), under the entry's path.
   */
  async #track(
    path: string,
    id: string,
    rotatedFrom?: FilePosition,
  ): Promise<TrackedFile | undefined> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(path, 'r');
    } catch {
      return undefined;
    }
    try {
      const st = await handle.stat({ bigint: true });
      if (`${st.dev}:${st.ino}` !== id) {
        await handle.close();
        return undefined;
      }
      const size = Number(st.size);
      const headBytes = Math.min(size, FINGERPRINT_BYTES);
      const head = await hashRange(handle, 0, headBytes);
      const start = await this.#startOffset(handle, id, size, head, headBytes, !!rotatedFrom);
      if (start === 'not-resumed') {
        await handle.close();
        return undefined;
      }
      if (start === 'pending-copy') {
        if (!this.#pendingCopies.has(id)) {
          this.#pendingCopies.add(id);
          this.#log.debug({ path }, 'copy of a followed file; waiting for its truncation');
        }
        await handle.close();
        return undefined;
      }
      this.#pendingCopies.delete(id);
      const file = new TrackedFile(id, handle, {
        path: rotatedFrom?.path ?? path,
        size,
        offset: start.offset,
        fingerprint: head,
        fingerprintBytes: headBytes,
        maxLineBytes: this.#options.maxLineBytes,
        readBuffer: this.#readBuffer,
        ...(start.copiesAwaited && { copiesAwaited: start.copiesAwaited }),
      });
      await file.primeTail();
      this.#files.set(id, file);
      this.#pending.push({ kind: 'position', position: file.position() });
      // The original stops carrying the claimed truncation only after the copy's position:
      // a checkpoint between the two still has one of them, so a restart reads nothing twice.
      const owner = start.claimed?.fileId ? this.#files.get(start.claimed.fileId) : undefined;
      if (owner && start.claimed && owner.copyClaimed(start.claimed)) {
        this.#pending.push({ kind: 'position', position: owner.position() });
      }
      this.#log.info(
        {
          path: file.path,
          offset: start.offset,
          from: start.from,
          ...(rotatedFrom && { at: path }),
        },
        'following file',
      );
      return file;
    } catch (err) {
      await handle.close().catch(() => {});
      this.#log.warn({ err, path }, 'could not open a file; retrying at the next scan');
      return undefined;
    }
  }

  async #startOffset(
    handle: Awaited<ReturnType<typeof open>>,
    id: string,
    size: number,
    head: string,
    headBytes: number,
    resumedOnly = false,
  ): Promise<StartOffset | 'pending-copy' | 'not-resumed'> {
    const saved = this.#resume.get(id);
    let copiesAwaited: AwaitedCopy[] | undefined;
    if (saved) {
      this.#resume.delete(id);
      const same =
        saved.fingerprintBytes <= size &&
        (await hashRange(handle, 0, saved.fingerprintBytes)) === saved.fingerprint;
      if (same) {
        return {
          offset: Math.min(saved.offset, size),
          from: 'checkpoint',
          ...(saved.copiesAwaited && { copiesAwaited: saved.copiesAwaited }),
        };
      }
      // Same inode, other content: truncated while we were away, or the inode was reused. The
      // file carries the old content's record on, as it would had the truncation been seen.
      const { tailHash, tailBytes, at } = this.#retireOne(saved);
      const { fingerprint, fingerprintBytes, offset } = saved;
      copiesAwaited = [
        ...(saved.copiesAwaited ?? []),
        ...(fingerprintBytes === FINGERPRINT_BYTES
          ? [{ fingerprint, fingerprintBytes, offset, tailHash, tailBytes, at }]
          : []),
      ];
    }
    if (resumedOnly) return 'not-resumed';
    const carried = copiesAwaited?.length ? { copiesAwaited } : {};
    if (headBytes === FINGERPRINT_BYTES) {
      // A followed file with the same first bytes may have just been truncated (copytruncate):
      // its fresh state decides whether this is the copy of its old content or of its current one.
      for (const file of this.#files.values()) {
        if (file.fingerprint !== head) continue;
        const truncated = await file.refresh();
        if (truncated) this.#onTruncated(file, truncated);
      }
      const record = await this.#truncationOf(handle, size, head);
      if (record) {
        this.#truncations = this.#truncations.filter((r) => r !== record);
        return {
          offset: record.offset,
          from: `copy of ${record.path}`,
          claimed: record,
          ...carried,
        };
      }
      if (await this.#copyOfLiveFile(handle, size, head)) return 'pending-copy';
    }
    if (this.#firstScan && this.#options.startAtEnd)
      return { offset: size, from: 'end', ...carried };
    return { offset: 0, from: 'beginning', ...carried };
  }

  /** A checkpoint entry whose file now holds other content becomes a truncation record. */
  #retireOne(saved: FilePosition): TruncationRecord {
    const record: TruncationRecord = {
      fingerprint: saved.fingerprint,
      fingerprintBytes: saved.fingerprintBytes,
      offset: saved.offset,
      tailHash: '',
      tailBytes: 0,
      path: saved.path,
      fileId: saved.id,
      at: Date.now(),
    };
    this.#remember(record);
    return record;
  }

  /** The truncation this file is the copy of: same first bytes, and it holds what was read. */
  async #truncationOf(
    handle: Awaited<ReturnType<typeof open>>,
    size: number,
    head: string,
  ): Promise<TruncationRecord | undefined> {
    for (const record of this.#truncations) {
      if (record.fingerprintBytes !== FINGERPRINT_BYTES || record.fingerprint !== head) continue;
      if (record.offset > size) continue;
      if (record.tailBytes > 0) {
        const tail = await hashRange(handle, record.offset - record.tailBytes, record.tailBytes);
        if (tail !== record.tailHash) continue;
      }
      return record;
    }
    return undefined;
  }

  /**
   * True when this file is a copy of a followed file that was not truncated (yet): same first
   * bytes, not longer, same last bytes. Its lines arrive through the original; if the original
   * is truncated next (copytruncate), the copy is read from where the original stopped.
   */
  async #copyOfLiveFile(
    handle: Awaited<ReturnType<typeof open>>,
    size: number,
    head: string,
  ): Promise<boolean> {
    for (const file of this.#files.values()) {
      if (file.fingerprintBytes !== FINGERPRINT_BYTES || file.fingerprint !== head) continue;
      if (size > file.size) continue;
      const at = size - FINGERPRINT_BYTES;
      if ((await hashRange(handle, at, FINGERPRINT_BYTES)) === (await file.hashAt(at))) return true;
    }
    return false;
  }
}
