import { EventEmitter, once } from 'node:events';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { S3WorkerError } from '../../errors.js';
import { fsyncDir, writeFileDurably } from './durable-file.js';
import type { FilePosition } from './source-event.js';

/** A sealed batch waiting in the spool, as its `.json` file describes it. */
export interface BatchMeta {
  seq: number;
  /** Random id, stored with the object: tells a retry of our own upload from a key collision. */
  batchId: string;
  /** Object key; undefined for a batch that only moves positions (no lines, nothing to upload). */
  key?: string;
  /** When the batch got its first line (ISO). */
  openedAt: string;
  /**
   * When the shipper read the batch's first line (ISO), for `OldestUnshippedSeconds`; absent
   * in position-only batches and in batches spooled before this field existed (`openedAt`
   * stands in).
   */
  firstLineAt?: string;
  lines: number;
  /** Bytes of lines, before compression. */
  rawBytes: number;
  /** Bytes of the `.data` file (compressed). */
  dataBytes: number;
  /** Where each file stands once this batch is in S3. */
  positions: FilePosition[];
  /** Files finished for good with this batch. */
  forget: string[];
}

/** Options of {@link Spool.open}. */
export interface SpoolOptions {
  dir: string;
  /** Bound on the bytes of sealed batches plus the open one (see `full`). */
  maxBytes: number;
  log: Logger;
}

const LOCK = 'lock';
const SEQ_DIGITS = 20;

/**
 * The local folder where sealed batches wait for S3: `<seq>.data` (the compressed lines) and
 * `<seq>.json` (its {@link BatchMeta}; its rename into place is the commit point), the open
 * batch as `open.data.tmp`, the checkpoint, and a lock naming the process that owns the folder.
 * Batches leave in sequence order, so positions are acknowledged in the order lines were read.
 */
export class Spool {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #log: Logger;
  readonly #queue: BatchMeta[] = [];
  readonly #events = new EventEmitter();
  #sealedBytes = 0;
  #openBytes = 0;
  #locked = false;
  #dropped = 0;

  private constructor(options: SpoolOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    this.#log = options.log;
    this.#events.setMaxListeners(0);
  }

  /**
   * Opens (creating) the spool folder: takes the lock, removes what a crash left half written
   * (temp files, data without its `.json`), and loads the sealed batches in order. A batch that
   * cannot be uploaded (its data missing or of the wrong size, its `.json` unreadable) is
   * dropped with every later batch, so reading resumes where that batch began and its lines are
   * read again from the files (see `droppedBatches`).
   */
  static async open(options: SpoolOptions): Promise<Spool> {
    const spool = new Spool(options);
    await mkdir(options.dir, { recursive: true });
    await spool.#lock();
    try {
      await spool.#load();
    } catch (err) {
      await spool.close();
      throw err;
    }
    return spool;
  }

  /** Sealed batches waiting, oldest first (read-only view). */
  get batches(): readonly BatchMeta[] {
    return this.#queue;
  }

  /** Bytes on disk: sealed batches plus the open batch so far. */
  get bytes(): number {
    return this.#sealedBytes + this.#openBytes;
  }

  /** True when no more lines should be written until an upload makes room. */
  get full(): boolean {
    return this.bytes >= this.maxBytes;
  }

  /** The open batch's compressed bytes so far (the batcher reports them as they are written). */
  setOpenBytes(bytes: number): void {
    this.#openBytes = bytes;
  }

  /**
   * Batches dropped at open because one could not be uploaded (damaged or missing data): that
   * one and every later one. 0 when the spool was intact.
   */
  get droppedBatches(): number {
    return this.#dropped;
  }

  /** The highest sequence number in the spool, or -1. */
  get lastSeq(): number {
    return this.#queue.at(-1)?.seq ?? -1;
  }

  /** Path of the open batch's data. */
  get openDataPath(): string {
    return join(this.dir, 'open.data.tmp');
  }

  dataPath(seq: number): string {
    return join(this.dir, `${String(seq).padStart(SEQ_DIGITS, '0')}.data`);
  }

  metaPath(seq: number): string {
    return join(this.dir, `${String(seq).padStart(SEQ_DIGITS, '0')}.json`);
  }

  /**
   * Commits a sealed batch: its data (already fsynced at `openDataPath`, when it has lines) is
   * renamed to `<seq>.data`, its meta written durably as `<seq>.json`, the folder fsynced.
   */
  async add(meta: BatchMeta): Promise<void> {
    if (meta.key !== undefined) await rename(this.openDataPath, this.dataPath(meta.seq));
    await writeFileDurably(this.metaPath(meta.seq), `${JSON.stringify(meta)}\n`);
    this.#openBytes = 0;
    this.#sealedBytes += meta.dataBytes;
    this.#queue.push(meta);
    this.#events.emit('batch');
  }

  /** Rewrites a waiting batch's meta (a new key after a collision). */
  async update(meta: BatchMeta): Promise<void> {
    await writeFileDurably(this.metaPath(meta.seq), `${JSON.stringify(meta)}\n`);
  }

  /** Removes the oldest batch once it is in S3 and the checkpoint has moved past it. */
  async remove(meta: BatchMeta): Promise<void> {
    if (this.#queue[0] !== meta) throw new Error('spool: batches leave in order');
    // The meta goes first: a crash in between leaves data without meta, removed at the next open.
    await unlink(this.metaPath(meta.seq));
    if (meta.key !== undefined) await rm(this.dataPath(meta.seq), { force: true });
    await fsyncDir(this.dir);
    this.#queue.shift();
    this.#sealedBytes -= meta.dataBytes;
    this.#events.emit('space');
  }

  /** Resolves when a batch is waiting (at once if one is), or when `signal` aborts. */
  async waitForBatch(signal: AbortSignal): Promise<void> {
    if (this.#queue.length > 0 || signal.aborted) return;
    await once(this.#events, 'batch', { signal }).catch(() => {});
  }

  /** Resolves when the spool is no longer full, or when `signal` aborts. */
  async waitForSpace(signal: AbortSignal): Promise<void> {
    while (this.full && !signal.aborted) {
      await once(this.#events, 'space', { signal }).catch(() => {});
    }
  }

  /** Releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (!this.#locked) return;
    this.#locked = false;
    await rm(join(this.dir, LOCK), { force: true });
  }

  async #lock(): Promise<void> {
    const path = join(this.dir, LOCK);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(path, 'wx');
        await handle.writeFile(`${process.pid}\n`);
        await handle.close();
        this.#locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) {
        throw new S3WorkerError(`the spool folder ${this.dir} is in use by process ${owner}`, {
          code: 'SPOOL_LOCKED',
          context: { path: this.dir, pid: owner },
          hint: 'give each shipper its own --spool-dir',
        });
      }
      // Left by a process that is gone (killed, or a container restarted with the same pid).
      this.#log.info({ path, pid: owner }, 'taking over a stale spool lock');
      await rm(path, { force: true });
    }
    throw new S3WorkerError(`could not lock the spool folder ${this.dir}`, {
      code: 'SPOOL_LOCKED',
      context: { path: this.dir },
      hint: 'give each shipper its own --spool-dir',
    });
  }

  async #load(): Promise<void> {
    const names = await readdir(this.dir);
    const metas = new Set(names.filter((n) => /^\d+\.json$/.test(n)));
    for (const name of names) {
      const leftover =
        name.endsWith('.tmp') ||
        (/^\d+\.data$/.test(name) && !metas.has(name.replace(/\.data$/, '.json')));
      if (leftover) await rm(join(this.dir, name), { force: true });
    }
    // Names sort in batch order (fixed-width numbers).
    const ordered = [...metas].sort();
    for (const [index, name] of ordered.entries()) {
      const meta = await this.#readMeta(name);
      if (meta !== undefined) {
        this.#queue.push(meta);
        this.#sealedBytes += meta.dataBytes;
        continue;
      }
      // Reading resumes from the spooled batches' positions: a later batch's would move it past
      // this one's lines. So the later batches go too, and all their lines are read again from
      // the files, from where this batch began (none of them was uploaded: batches leave in order).
      // The later ones go first, durably: a crash in between leaves this batch to be found
      // damaged again, never a later batch without it.
      const seq = Number.parseInt(name, 10);
      const later = ordered.slice(index + 1).map((n) => Number.parseInt(n, 10));
      for (const s of [...later].reverse()) await this.#removeFiles(s);
      await fsyncDir(this.dir);
      await this.#removeFiles(seq);
      this.#dropped = 1 + later.length;
      this.#log.warn(
        { seq, laterBatches: later },
        'spooled batches dropped; their lines are read again from the files',
      );
      break;
    }
    await fsyncDir(this.dir);
  }

  async #removeFiles(seq: number): Promise<void> {
    await rm(this.metaPath(seq), { force: true });
    await rm(this.dataPath(seq), { force: true });
  }

  /**
   * A sealed batch's meta, or undefined when the batch cannot be uploaded: its meta is
   * unreadable, or its data missing or not the size the meta says (logged with the reason).
   */
  async #readMeta(name: string): Promise<BatchMeta | undefined> {
    let meta: BatchMeta;
    try {
      meta = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as BatchMeta;
    } catch (err) {
      this.#log.warn({ err, file: name }, 'spooled batch description is unreadable');
      return undefined;
    }
    if (meta.key === undefined) return meta;
    const size = await stat(this.dataPath(meta.seq)).then(
      (s) => s.size,
      () => -1,
    );
    if (size === meta.dataBytes) return meta;
    this.#log.warn(
      { seq: meta.seq, expected: meta.dataBytes, found: size },
      'spooled batch data is missing or damaged',
    );
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
