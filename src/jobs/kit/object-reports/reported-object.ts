/**
 * One object as a report names it: an S3 Inventory row, a Batch Operations manifest line, or a
 * listing entry. Readers yield these; jobs take them in place of a listing so that a report's
 * size and ETag stand in for a HeadObject per key.
 */
export interface ReportedObject {
  /** Bucket the object lives in. */
  bucket: string;
  /** Object key, already decoded (reports URL-encode keys). */
  key: string;
  /** Size in bytes, when the report carries it. */
  size?: number;
  /** ETag quoted, as S3 returns it (`"…"`), when the report carries it. */
  etag?: string;
  /** Version id to read, when the report names one (versioned buckets). */
  versionId?: string;
  /** Last-modified time, when the report carries it. */
  lastModified?: Date;
  /** Storage class (`STANDARD`, `GLACIER`, …), when the report carries it. */
  storageClass?: string;
  /**
   * INTELLIGENT_TIERING access tier (`FREQUENT`, `ARCHIVE_ACCESS`, …), when the report carries
   * it; the archive tiers cannot be read without a restore (see `isArchived`).
   */
  accessTier?: string;
}
