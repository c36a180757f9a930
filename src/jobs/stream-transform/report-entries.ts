import { parseS3Url } from '../../config/s3-location.js';
import type { JobContext } from '../job.js';
import { relativeKey } from '../kit/key-template.js';
import { readBatchManifest } from '../kit/object-reports/batch-manifest.js';
import { InventoryReport } from '../kit/object-reports/inventory-report.js';
import { isArchived } from '../kit/object-reports/is-archived.js';
import { ReportError } from '../kit/object-reports/report-error.js';
import type { ReportedObject } from '../kit/object-reports/reported-object.js';
import type { StreamTransformConfig } from './config.js';
import { inShard, type Shard } from './shard.js';
import type { SourceEntry } from './source-object.js';

/** What `reportEntries` needs from its run. */
export interface ReportEntriesOptions {
  config: StreamTransformConfig;
  ctx: JobContext<StreamTransformConfig>;
  /** This task's part: an inventory is split by data file when it has enough, else by key. */
  shard: Shard;
  /** Counts a row left out, with its reason (as `WorkLoop.skip`). */
  skip: (reason: string) => void;
  /** Keys the run writes itself (see `isOwnOutput`). */
  isOwnOutput: (key: string) => boolean;
}

/**
 * The objects named by `--inventory` or `--manifest`, as a run's entries, in place of a listing.
 * A row with size, ETag and date stands in for a listed object (no HeadObject; the GET carries
 * the report's ETag as `If-Match`); a manifest row (key and version only) gets a HeadObject of
 * that version. Rows are left out and counted as skipped: keys outside the input prefix
 * (`outside-input`), the run's own outputs (`own-output`), objects in archive storage
 * (`archived`, never fetched), delete markers and older versions of an inventory of all versions
 * (`delete-marker`, `not-latest`), and keys of another shard (`other-shard`). The sharding is
 * done here: the run must not shard these entries again.
 */
export async function* reportEntries(options: ReportEntriesOptions): AsyncGenerator<SourceEntry> {
  const { config, ctx, shard, skip } = options;
  if (config.inventory !== undefined) {
    const location = parseS3Url(config.inventory, 'inventory');
    const report = await InventoryReport.open({
      transfer: ctx.transfer,
      manifest: { bucket: location.bucket, key: location.prefix },
      tmpDir: ctx.tmpDir,
      signal: ctx.signal,
      shard,
    });
    try {
      const { sourceBucket } = report.manifest;
      if (sourceBucket !== config.input.bucket)
        throw otherBucket(config.inventory, sourceBucket, config);
      ctx.log.info(
        {
          inventory: config.inventory,
          format: report.manifest.fileFormat,
          dataFiles: report.files.length,
          ofDataFiles: report.manifest.files.length,
          split: report.split,
        },
        'inventory report verified',
      );
      const byKey = report.split === 'by-key' ? shard : undefined;
      for await (const object of report.objects(skip)) {
        const entry = toEntry(object, options, byKey);
        if (entry !== undefined) yield entry;
      }
    } finally {
      await report.close();
    }
    return;
  }
  if (config.manifest !== undefined) {
    const location = parseS3Url(config.manifest, 'manifest');
    const manifest = { bucket: location.bucket, key: location.prefix };
    for await (const object of readBatchManifest(ctx.transfer, manifest, ctx.signal)) {
      if (object.bucket !== config.input.bucket)
        throw otherBucket(config.manifest, object.bucket, config);
      const entry = toEntry(object, options, shard);
      if (entry !== undefined) yield entry;
    }
  }
}

/** One reported object as an entry, or `undefined` when it is left out (and counted). */
function toEntry(
  object: ReportedObject,
  options: ReportEntriesOptions,
  shard: Shard | undefined,
): SourceEntry | undefined {
  const { config, skip, isOwnOutput } = options;
  const { input } = config;
  const { key, versionId } = object;
  let reason: string | undefined;
  if (!key.startsWith(input.prefix)) reason = 'outside-input';
  else if (isOwnOutput(key)) reason = 'own-output';
  else if (shard !== undefined && !inShard(key, shard)) reason = 'other-shard';
  else if (isArchived(object)) reason = 'archived';
  if (reason !== undefined) {
    skip(reason);
    return undefined;
  }
  const entry: SourceEntry = { key, fromReport: true };
  if (versionId !== undefined) entry.versionId = versionId;
  const { size, etag, lastModified } = object;
  if (size !== undefined && etag !== undefined && lastModified !== undefined) {
    entry.object = {
      bucket: input.bucket,
      key,
      relKey: relativeKey(key, input.prefix),
      size,
      etag,
      lastModified,
      ...(versionId === undefined ? {} : { versionId }),
    };
  }
  return entry;
}

function otherBucket(report: string, bucket: string, config: StreamTransformConfig): ReportError {
  return new ReportError(
    `${report} names objects of bucket ${bucket}, but --input is in bucket ${config.input.bucket}`,
    {
      context: { report, bucket, inputBucket: config.input.bucket },
      hint: `a run reads one bucket: set --input s3://${bucket}/ (or a prefix of it), or use a report of bucket ${config.input.bucket}`,
    },
  );
}
