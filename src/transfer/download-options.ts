/** Options of `Transfer.download`. */
export interface DownloadOptions {
  bucket: string;
  key: string;
  /**
   * Object size in bytes, as listed. Decides single vs ranged GET and the ranges. Default:
   * unknown, read with one GET.
   */
  size?: number | undefined;
  /** ETag as listed (quoted). Sent as `If-Match` so a changed object fails instead of mixing versions. */
  etag?: string | undefined;
  /** Read this version (versioned buckets). */
  versionId?: string | undefined;
  /** Bytes per ranged GET. Default: the run's `--range-size` (8 MiB). */
  rangeSize?: number | undefined;
  /** Ranged GETs in flight for this object. Default: the run's `--range-concurrency` (2). Each holds one socket. */
  rangeConcurrency?: number | undefined;
  /** Aborting destroys the stream with the signal's reason and aborts every request. */
  signal?: AbortSignal | undefined;
}
