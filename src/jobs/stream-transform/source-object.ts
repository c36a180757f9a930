import type { Outcome } from '../kit/work-loop.js';

/** One input object, as `filter`, `outputKey` and `transform` see it. */
export interface SourceObject {
  bucket: string;
  /** Full key in the input bucket. */
  key: string;
  /** Key relative to the input prefix (see docs/stream-transform.md, key templates). */
  relKey: string;
  /** Bytes. */
  size: number;
  /** ETag as S3 returns it (quoted). */
  etag: string;
  lastModified: Date;
  /** The version to read, when a manifest names one (versioned buckets). Default: the current one. */
  versionId?: string;
}

/** Listed (or named in the keys file); size and ETag unknown until a HeadObject in keys mode. */
export interface SourceEntry {
  key: string;
  object?: SourceObject;
  /** The version a manifest names, read (and HEADed) instead of the current one. */
  versionId?: string;
  /**
   * Named by an inventory report or a manifest: an object changed or deleted since is a counted
   * skip (`changed-since-report`, `deleted-since-report`), not a failure.
   */
  fromReport?: boolean;
  /** Queue mode: told how the entry ended, so its message is deleted or handed back. */
  settled?: (outcome: Outcome) => void;
}

/** Folder under the output prefix where s3worker writes its own files (failure reports). */
export const OWN_FOLDER = '_s3worker/';
