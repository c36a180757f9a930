import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { S3WorkerError } from '../../../errors.js';
import type { Transfer } from '../../../transfer/transfer.js';
import {
  type InventoryDataFile,
  type InventoryManifest,
  readInventoryManifest,
} from './inventory-manifest.js';
import { csvInventoryRows, type InventoryRow, parquetInventoryRows } from './inventory-rows.js';
import type { ReportedObject } from './reported-object.js';
import { downloadVerified } from './verified-download.js';

/** A part of a split: this task's `index` of `count` (0-based). */
export interface ReportShard {
  index: number;
  count: number;
}

/** Options of `InventoryReport.open`. */
export interface InventoryReportOptions {
  transfer: Transfer;
  /** Where `manifest.json` is. */
  manifest: { bucket: string; key: string };
  /** A scratch folder: this task's data files are stored below it until read. */
  tmpDir: string;
  signal: AbortSignal;
  /** The part of the report this task takes. Default: all of it. */
  shard?: ReportShard | undefined;
  /** Data files downloaded at once. Default 4. Each holds one socket (more while ranged). */
  downloadConcurrency?: number | undefined;
}

/**
 * How a report is split among tasks: `by-file` when it has at least as many data files as
 * tasks (each task downloads only its own files), `by-key` otherwise (each task reads every row
 * once and keeps the keys of its shard, by the key hash `--shard` uses for a listing).
 */
export type ReportSplit = 'by-file' | 'by-key';

/**
 * An S3 Inventory report as a source of objects. `open` reads `manifest.json`, chooses this
 * task's data files, and downloads every one of them to the scratch folder, each checked
 * against the manifest's size and MD5 while it streams in, before a single row is given out: a
 * damaged report is refused (exit 5) with nothing processed. Costs one GET per data file and
 * disk for this task's share of the report (compressed, as stored); each file is removed once
 * read, and `close` removes what is left.
 */
export class InventoryReport {
  private constructor(
    /** The manifest, as read. */
    readonly manifest: InventoryManifest,
    /** The bucket of the manifest, where its data files are read (normally `destinationBucket`). */
    readonly bucket: string,
    /** The data files this task reads (all of them when split `by-key`). */
    readonly files: readonly InventoryDataFile[],
    readonly split: ReportSplit,
    private readonly dir: string,
    private readonly signal: AbortSignal,
  ) {}

  static async open(options: InventoryReportOptions): Promise<InventoryReport> {
    const { transfer, signal } = options;
    const manifest = await readInventoryManifest(transfer, options.manifest, signal);
    const shard = options.shard ?? { index: 0, count: 1 };
    const split: ReportSplit = manifest.files.length >= shard.count ? 'by-file' : 'by-key';
    const files = split === 'by-file' ? filesOfShard(manifest.files, shard) : manifest.files;
    const dir = await mkdtemp(join(options.tmpDir, 'inventory-'));
    try {
      await ensureSpace(
        dir,
        files.reduce((sum, f) => sum + f.size, 0),
      );
      const limit = pLimit(options.downloadConcurrency ?? 4);
      const failed = new AbortController();
      const both = AbortSignal.any([signal, failed.signal]);
      await Promise.all(
        files.map((file, i) =>
          limit(async () => {
            if (both.aborted) return;
            try {
              await downloadVerified(transfer, {
                bucket: options.manifest.bucket,
                file,
                path: join(dir, String(i)),
                signal: both,
              });
            } catch (err) {
              // The first refused file stops the other downloads: the run is refused anyway.
              if (!failed.signal.aborted) failed.abort(err);
              throw err;
            }
          }),
        ),
      ).catch((err: unknown) => {
        throw failed.signal.aborted && !signal.aborted ? failed.signal.reason : err;
      });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return new InventoryReport(manifest, options.manifest.bucket, files, split, dir, signal);
  }

  /**
   * The report's rows as objects, file after file, streamed from the verified copies. Rows that
   * name no current object are left out and told to `onSkip`: `delete-marker`, `not-latest`
   * (an older version, in a report of all versions). An inventory object carries no
   * `versionId`: its ETag pins the version a GET may read.
   */
  async *objects(onSkip: (reason: string) => void = () => {}): AsyncGenerator<ReportedObject> {
    const { manifest, signal } = this;
    for (const [i, file] of this.files.entries()) {
      const path = join(this.dir, String(i));
      const where = `s3://${this.bucket}/${file.key}`;
      const rows =
        manifest.fileFormat === 'CSV'
          ? csvInventoryRows(path, manifest.columns, where, signal)
          : parquetInventoryRows(path, where, signal);
      for await (const row of rows) {
        const object = reportedObject(row, manifest.sourceBucket);
        if (typeof object === 'string') onSkip(object);
        else yield object;
      }
      await rm(path, { force: true });
    }
  }

  /** Removes the scratch copies. Safe to call more than once. */
  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * The data files of `shard`: files sorted by size (largest first, then key) and each given to
 * the shard with the fewest bytes so far (lowest index on a tie). Every task computes the same
 * assignment from the same manifest, so the shards are disjoint and cover every file, and their
 * bytes differ by at most one file.
 */
export function filesOfShard(
  files: readonly InventoryDataFile[],
  shard: ReportShard,
): InventoryDataFile[] {
  if (shard.count <= 1) return [...files];
  const bytes = new Array<number>(shard.count).fill(0);
  const mine: InventoryDataFile[] = [];
  const order = [...files].sort((a, b) => b.size - a.size || (a.key < b.key ? -1 : 1));
  for (const file of order) {
    let least = 0;
    for (let s = 1; s < shard.count; s++)
      if ((bytes[s] as number) < (bytes[least] as number)) least = s;
    bytes[least] = (bytes[least] as number) + file.size;
    if (least === shard.index) mine.push(file);
  }
  return mine;
}

async function ensureSpace(dir: string, needed: number): Promise<void> {
  const fs = await statfs(dir).catch(() => undefined);
  if (fs === undefined) return;
  const free = fs.bavail * fs.bsize;
  if (free >= needed) return;
  throw new S3WorkerError(
    `the scratch folder has ${free} bytes free; this task's share of the inventory report needs ${needed}`,
    {
      code: 'TMP_DIR_FULL',
      context: { dir, free, needed },
      hint: 'give S3WORKER_TMPDIR a volume with more room (on ECS: ephemeral storage), or split the report among more tasks with --shard',
    },
  );
}

/** A row as a `ReportedObject`, or the reason it names no current object. */
function reportedObject(row: InventoryRow, sourceBucket: string): ReportedObject | string {
  if (bool(row.is_delete_marker) === true) return 'delete-marker';
  if (bool(row.is_latest) === false) return 'not-latest';
  const object: ReportedObject = { bucket: text(row.bucket) ?? sourceBucket, key: String(row.key) };
  const size = count(row.size);
  if (size !== undefined) object.size = size;
  const etag = text(row.e_tag);
  if (etag !== undefined) object.etag = etag.startsWith('"') ? etag : `"${etag}"`;
  const modified = date(row.last_modified_date);
  if (modified !== undefined) object.lastModified = modified;
  const storageClass = text(row.storage_class);
  if (storageClass !== undefined) object.storageClass = storageClass;
  const tier = text(row.intelligent_tiering_access_tier);
  if (tier !== undefined) object.accessTier = tier;
  return object;
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function bool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  return undefined;
}

function count(v: unknown): number | undefined {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return undefined;
}

function date(v: unknown): Date | undefined {
  const d =
    v instanceof Date
      ? v
      : typeof v === 'bigint' || typeof v === 'number'
        ? new Date(Number(v))
        : typeof v === 'string' && v !== ''
          ? new Date(v)
          : undefined;
  return d === undefined || Number.isNaN(d.getTime()) ? undefined : d;
}
