import { parseS3Url } from '../../config/s3-location.js';
import { explainS3Error } from '../../s3/explain-error.js';
import type { JobContext } from '../job.js';
import { readBatchManifest } from '../kit/object-reports/batch-manifest.js';
import { InventoryReport } from '../kit/object-reports/inventory-report.js';
import type { ReportedObject } from '../kit/object-reports/reported-object.js';
import type { EnqueueConfig } from './config.js';

/** One object of the source, with its place in the source's order. */
export interface SourceEntry {
  object: ReportedObject;
  /**
   * Objects the source gave up to and including this one, from its start (1-based); for a
   * report, its rows (those told to `onSkip` included).
   */
  taken: number;
}

/**
 * Where a run continues: after the checkpoint's last key, the `taken`-th object of a listing or
 * row of a report (rows that name no current object count).
 */
export interface SourcePosition {
  after?: string | undefined;
  taken: number;
}

/** The objects an enqueue run sends, in an order that is the same on every run. */
export interface EnqueueSource {
  /** Names the source in the checkpoint (`s3://bucket/prefix`, `inventory s3://…`). */
  readonly name: string;
  /**
   * The objects after `from`, in order. Report rows that name no current object (delete
   * markers, older versions) are told to `onSkip` and not given out.
   */
  entries(from: SourcePosition, onSkip: (reason: string) => void): AsyncGenerator<SourceEntry>;
  /** Removes what the source keeps (an inventory's downloaded data files). */
  close(): Promise<void>;
}

/**
 * The source the config names: a listing of `input` (resumed with `StartAfter`, so a resumed run
 * lists nothing twice), an S3 Inventory report (data files in manifest order, each checked
 * against its MD5 before any object is given out) or a Batch Operations manifest (streamed);
 * a resumed report run reads the report again and passes over the first `taken` objects.
 */
export function enqueueSource(
  config: EnqueueConfig,
  ctx: Pick<JobContext<EnqueueConfig>, 'transfer' | 'signal' | 'tmpDir'>,
): EnqueueSource {
  const { transfer, signal } = ctx;
  if (config.inventory !== undefined) {
    const manifest = parseS3Url(config.inventory, 'inventory');
    let report: InventoryReport | undefined;
    return {
      name: `inventory ${config.inventory}`,
      async *entries(from, onSkip) {
        report = await InventoryReport.open({
          transfer,
          manifest: { bucket: manifest.bucket, key: manifest.prefix },
          tmpDir: ctx.tmpDir,
          signal,
        });
        yield* passOver((skip) => report!.objects(skip), from.taken, onSkip);
      },
      close: async () => report?.close(),
    };
  }
  if (config.manifest !== undefined) {
    const manifest = parseS3Url(config.manifest, 'manifest');
    return {
      name: `manifest ${config.manifest}`,
      entries: (from, onSkip) =>
        passOver(
          () =>
            readBatchManifest(transfer, { bucket: manifest.bucket, key: manifest.prefix }, signal),
          from.taken,
          onSkip,
        ),
      close: async () => {},
    };
  }
  const { bucket, prefix } = config.input!;
  return {
    name: `s3://${bucket}/${prefix}`,
    async *entries(from) {
      let taken = from.taken;
      const listing = transfer.list({
        bucket,
        prefix,
        signal,
        ...(from.after === undefined ? {} : { startAfter: from.after }),
      });
      try {
        for await (const o of listing) {
          const { key, size, etag, lastModified } = o;
          yield { object: { bucket, key, size, etag, lastModified }, taken: ++taken };
        }
      } catch (err) {
        if (signal.aborted) throw err;
        throw explainS3Error(err, { action: 'ListObjectsV2', bucket, key: prefix });
      }
    },
    close: async () => {},
  };
}

/**
 * The rows of a report numbered from its start, objects and skipped rows alike, the first
 * `skip` passed over (neither given out nor told to `onSkip`).
 */
async function* passOver(
  rows: (onSkip: (reason: string) => void) => AsyncIterable<ReportedObject>,
  skip: number,
  onSkip: (reason: string) => void,
): AsyncGenerator<SourceEntry> {
  let taken = 0;
  const skipped = (reason: string) => {
    if (++taken > skip) onSkip(reason);
  };
  for await (const object of rows(skipped)) {
    if (++taken > skip) yield { object, taken };
  }
}
