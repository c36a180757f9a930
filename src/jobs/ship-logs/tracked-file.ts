import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { countLines, LineSplitter, type ReadBuffer } from './line-splitter.js';
import type { AwaitedCopy, FilePosition, SourceEvent } from './source-event.js';

/** Bytes of a file's start that identify it (with its inode), and of the end of what was read. */
export const FINGERPRINT_BYTES = 256;
/** How long the record of a truncated file's old content is kept, waiting for its copy. */
export const TRUNCATION_MEMORY_MS = 10 * 60_000;
/** Truncations of one file still waiting for their copies that its position carries. */
const MAX_AWAITED_COPIES = 4;

/** What a file held before it was truncated under the reader (copytruncate): finds its copy. */
export interface TruncationRecord extends AwaitedCopy {
  /** The path the file had. */
  path: string;
  /** The truncated file's id, when it is (or was) followed: the record is dropped from its position once a copy claims it. */
  fileId?: string;
}

/** SHA-256 of `bytes` bytes of `handle` at `position`, hex. */
export async function hashRange(
  handle: FileHandle,
  position: number,
  bytes: number,
): Promise<string> {
  const buffer = Buffer.alloc(bytes);
  const { bytesRead } = await handle.read(buffer, 0, bytes, position);
  return sha256(buffer.subarray(0, bytesRead));
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * One file being tailed, followed by its open handle (so a rename or an unlink does not lose
 * it): where reading stands, the partial line held back, its fingerprint, and what it needs to
 * detect a truncation (a size below the read offset, or first bytes that changed).
 */
export class TrackedFile {
  /** Last path the file was seen at. */
  path: string;
  /** Files that this one replaced at its path: read to their end before this one. */
  readonly predecessors = new Set<TrackedFile>();
  /** When a scan first failed to find the file under --path (rotated away or deleted). */
  missingSince: number | undefined;
  /** When the file last grew (ms). */
  grewAt = Date.now();
  /** Size at the last check. */
  size: number;
  #readOffset: number;
  #fingerprint: string;
  #fingerprintBytes: number;
  /** The last (up to FINGERPRINT_BYTES) bytes of complete lines handed on. */
  #tail: Buffer = Buffer.alloc(0);
  readonly #splitter: LineSplitter;
  #closed = false;
  /** This file's truncations no copy claimed yet, oldest first (its position carries them). */
  #awaited: AwaitedCopy[];

  constructor(
    readonly id: string,
    readonly handle: FileHandle,
    init: {
      path: string;
      size: number;
      offset: number;
      fingerprint: string;
      fingerprintBytes: number;
      maxLineBytes: number;
      /** Where reads go: one buffer shared by the files of a tailer. */
      readBuffer: ReadBuffer;
      /** Truncations of this file still waiting for their copies (from its checkpoint entry). */
      copiesAwaited?: readonly AwaitedCopy[];
    },
  ) {
    this.#awaited = [...(init.copiesAwaited ?? [])];
    this.path = init.path;
    this.size = init.size;
    this.#readOffset = init.offset;
    this.#fingerprint = init.fingerprint;
    this.#fingerprintBytes = init.fingerprintBytes;
    this.#splitter = new LineSplitter(init.maxLineBytes, init.readBuffer);
  }

  /** Offset just past the last complete line handed on. */
  get lineOffset(): number {
    return this.#readOffset - this.#splitter.pendingBytes;
  }

  get fingerprint(): string {
    return this.#fingerprint;
  }

  get fingerprintBytes(): number {
    return this.#fingerprintBytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True while bytes are known to be waiting past the read offset. */
  get hasUnread(): boolean {
    return this.size > this.#readOffset;
  }

  /** True when every byte up to the last known size was read, partial line included. */
  get atEnd(): boolean {
    return this.#readOffset >= this.size;
  }

  position(): FilePosition {
    if (this.#awaited.length > 0) {
      const now = Date.now();
      this.#awaited = this.#awaited.filter((r) => now - r.at < TRUNCATION_MEMORY_MS);
    }
    return {
      id: this.id,
      fingerprint: this.#fingerprint,
      fingerprintBytes: this.#fingerprintBytes,
      offset: this.lineOffset,
      path: this.path,
      ...(this.#awaited.length > 0 && { copiesAwaited: [...this.#awaited] }),
    };
  }

  /**
   * A copy claimed this file's truncation `record`: positions handed on from now stop carrying
   * it. False when the file did not carry it.
   */
  copyClaimed(record: AwaitedCopy): boolean {
    const before = this.#awaited.length;
    this.#awaited = this.#awaited.filter(
      (r) => !(r.fingerprint === record.fingerprint && r.offset === record.offset),
    );
    return this.#awaited.length < before;
  }

  /**
   * Re-reads size and first bytes. A size below the read offset, or first bytes that changed,
   * mean the file was truncated (and maybe written again): reading restarts at 0 and the old
   * content's record is returned (its copy, if a glob matches one, is then read from where this
   * file stopped). Also extends a fingerprint taken while the file was shorter than 256 bytes.
   */
  async refresh(): Promise<TruncationRecord | undefined> {
    const { size } = await this.handle.stat();
    let truncated = size < this.#readOffset;
    if (!truncated && this.#fingerprintBytes > 0 && size > this.#readOffset) {
      truncated = (await hashRange(this.handle, 0, this.#fingerprintBytes)) !== this.#fingerprint;
    }
    if (size > this.size) this.grewAt = Date.now();
    this.size = size;
    if (truncated) {
      const record: TruncationRecord = {
        fingerprint: this.#fingerprint,
        fingerprintBytes: this.#fingerprintBytes,
        offset: this.lineOffset,
        tailHash: sha256(this.#tail),
        tailBytes: this.#tail.length,
        path: this.path,
        fileId: this.id,
        at: Date.now(),
      };
      if (record.fingerprintBytes === FINGERPRINT_BYTES) {
        // Only a full fingerprint can recognise a copy.
        const { path: _path, fileId: _fileId, ...awaited } = record;
        this.#awaited = [...this.#awaited, awaited].slice(-MAX_AWAITED_COPIES);
      }
      this.#readOffset = 0;
      this.#tail = Buffer.alloc(0);
      this.#splitter.reset();
      this.#fingerprintBytes = 0;
      this.#fingerprint = sha256(Buffer.alloc(0));
      this.grewAt = Date.now();
      await this.#extendFingerprint();
      return record;
    }
    if (this.#fingerprintBytes < FINGERPRINT_BYTES && size > this.#fingerprintBytes) {
      await this.#extendFingerprint();
    }
    return undefined;
  }

  /**
   * Reads up to `maxBytes` past the read offset (and not past offset `until`) and returns the
   * complete lines in them (with the position after them), or undefined when nothing new is there. Call `refresh` first: it
   * is what notices a truncation.
   */
  async read(maxBytes: number, until = Number.POSITIVE_INFINITY): Promise<SourceEvent | undefined> {
    for (;;) {
      const want = Math.min(Math.min(this.size, until) - this.#readOffset, maxBytes);
      if (want <= 0) return undefined;
      const position = this.#readOffset;
      const { bytesRead, lines } = await this.#splitter.readFrom(
        want,
        async (buffer, offset, length) =>
          (await this.handle.read(buffer, offset, length, position)).bytesRead,
      );
      if (bytesRead === 0) {
        // Shrunk since the last refresh: the next refresh sees the truncation.
        this.size = this.#readOffset;
        return undefined;
      }
      this.#readOffset += bytesRead;
      if (lines !== undefined) return this.#linesEvent(lines);
    }
  }

  /** Reads the bytes before the start offset, so a truncation record can prove its copy. */
  async primeTail(): Promise<void> {
    const from = Math.max(0, this.lineOffset - FINGERPRINT_BYTES);
    const bytes = this.lineOffset - from;
    if (bytes === 0) return;
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await this.handle.read(buffer, 0, bytes, from);
    this.#tail = buffer.subarray(0, bytesRead);
  }

  /** SHA-256 of the 256 bytes at `position` (to compare with a possible copy). */
  hashAt(position: number): Promise<string> {
    return hashRange(this.handle, position, FINGERPRINT_BYTES);
  }

  /** Hands on the partial line at the end, with a newline added (the file is finished). */
  flushPartial(): SourceEvent | undefined {
    const rest = this.#splitter.flush();
    return rest === undefined ? undefined : this.#linesEvent(rest);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.handle.close().catch(() => {});
  }

  #linesEvent(data: Buffer): SourceEvent {
    this.#tail =
      data.length >= FINGERPRINT_BYTES
        ? Buffer.from(data.subarray(data.length - FINGERPRINT_BYTES))
        : Buffer.concat([this.#tail, data]).subarray(-FINGERPRINT_BYTES);
    return {
      kind: 'lines',
      data,
      lines: countLines(data),
      path: this.path,
      position: this.position(),
    };
  }

  async #extendFingerprint(): Promise<void> {
    const bytes = Math.min(this.size, FINGERPRINT_BYTES);
    this.#fingerprint = await hashRange(this.handle, 0, bytes);
    this.#fingerprintBytes = bytes;
  }
}
