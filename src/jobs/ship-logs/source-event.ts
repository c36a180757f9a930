/**
 * Where a shipper stands in one file, as the checkpoint stores it: the file's identity (device
 * and inode, plus a fingerprint of its first bytes so a reused inode is not mistaken for the
 * file it replaced) and the offset just past the last complete line handed on.
 */
export interface FilePosition {
  /** `dev:ino` of the file (decimal; stat with bigint, so large inode numbers stay exact). */
  id: string;
  /** Hex SHA-256 of the first `fingerprintBytes` bytes. */
  fingerprint: string;
  /** How many leading bytes the fingerprint covers (up to 256; fewer while the file is shorter). */
  fingerprintBytes: number;
  /** Bytes of complete lines read from the start of the file. */
  offset: number;
  /** The path the file last had (for people and logs; the identity is `id`). */
  path: string;
  /**
   * What the file held before it was truncated under the reader (copytruncate), while no copy
   * has claimed it yet and for at most 10 minutes: a restart uses it to read the copy on from
   * where the original stopped, even when the crash came before the copy's own position was
   * acknowledged. Newest last; absent when there is none.
   */
  copiesAwaited?: AwaitedCopy[];
}

/** The old content of a truncated file, as a copy of it is recognised (see `FilePosition`). */
export interface AwaitedCopy {
  /** Hex SHA-256 of the old content's first `fingerprintBytes` bytes. */
  fingerprint: string;
  fingerprintBytes: number;
  /** Bytes of complete lines read from the old content: the copy is read on from there. */
  offset: number;
  /** Hex SHA-256 of the `tailBytes` bytes just before `offset` (a copy must hold them). */
  tailHash: string;
  tailBytes: number;
  /** When the truncation was noticed (ms since the epoch). */
  at: number;
}

/** What a source (files or stdin) hands the batcher. */
export type SourceEvent =
  /** Complete lines (each ending with `\n`), and where the file stands after them. */
  | {
      kind: 'lines';
      /**
       * The lines. From a file, a view of the tailer's read buffer, which the next read
       * overwrites: use (or copy) it before asking for the next event.
       */
      data: Buffer;
      /** How many lines `data` holds. */
      lines: number;
      /** The file they came from (`-` for stdin). */
      path: string;
      /** Undefined for stdin, which cannot be resumed. */
      position?: FilePosition;
    }
  /** A file's position changed without lines (first seen, truncated): the checkpoint learns it. */
  | { kind: 'position'; position: FilePosition }
  /** A file is closed for good (rotated away and finished): the checkpoint forgets it. */
  | { kind: 'forget'; id: string };
