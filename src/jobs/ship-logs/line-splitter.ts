const NEWLINE = 0x0a;

/**
 * Cuts a byte stream into runs of complete lines, holding back the partial line at the end
 * until its newline arrives. At most `maxLineBytes` wait: a longer partial line is handed on in
 * pieces of that size, each ended with a newline, so one endless line cannot hold unbounded
 * memory.
 */
/**
 * One buffer that reads go into, grown when a read needs more: shared by every file a tailer
 * follows (their reads take turns), so the tailer holds one read's worth of memory however
 * many files it follows, and leaves no garbage per read.
 */
export class ReadBuffer {
  #buffer: Buffer | undefined;

  /** The buffer, at least `size` bytes; its contents are whatever the last read left. */
  take(size: number): Buffer {
    if (this.#buffer === undefined || this.#buffer.length < size) {
      this.#buffer = Buffer.allocUnsafeSlow(size);
    }
    return this.#buffer;
  }
}

export class LineSplitter {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  /**
   * @param maxLineBytes at most this much of a line waits for its newline.
   * @param readBuffer where `readFrom` reads (default: one of this splitter's own).
   */
  constructor(
    readonly maxLineBytes: number,
    readonly readBuffer: ReadBuffer = new ReadBuffer(),
  ) {}

  /** Bytes of the partial line held back. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Feeds `chunk`; returns the complete lines now available (ending with `\n`), or undefined. */
  push(chunk: Buffer): Buffer | undefined {
    const last = chunk.lastIndexOf(NEWLINE);
    if (last === -1) {
      // A small rest of a large read buffer is copied, so the buffer itself can be freed.
      this.#pending.push(chunk.length < 4096 ? Buffer.from(chunk) : chunk);
      this.#pendingBytes += chunk.length;
      return this.#pendingBytes >= this.maxLineBytes ? this.#cutLongLine() : undefined;
    }
    const head = chunk.subarray(0, last + 1);
    const complete = this.#pending.length === 0 ? head : Buffer.concat([...this.#pending, head]);
    const rest = chunk.subarray(last + 1);
    this.#pending = rest.length === 0 ? [] : [Buffer.from(rest)];
    this.#pendingBytes = rest.length;
    return complete;
  }

  /**
   * Reads up to `want` bytes with `read` into one buffer right after a copy of the held-back
   * partial line, and returns the complete lines now available as a view of that buffer, or
   * undefined; `bytesRead` 0 means the source had nothing. The same as `push` of what was read,
   * without a second copy of the lines: each byte is copied once, by the read. The buffer is
   * `readBuffer`, which the next read (of this splitter or another sharing it) overwrites: use
   * (or copy) the lines first.
   */
  async readFrom(
    want: number,
    read: (buffer: Buffer, offset: number, length: number) => Promise<number>,
  ): Promise<{ bytesRead: number; lines: Buffer | undefined }> {
    const held = this.#pendingBytes;
    const buffer = this.readBuffer.take(held + want);
    let at = 0;
    for (const piece of this.#pending) at += piece.copy(buffer, at);
    const bytesRead = await read(buffer, held, want);
    if (bytesRead === 0) return { bytesRead, lines: undefined };
    const data = buffer.subarray(0, held + bytesRead);
    const last = data.lastIndexOf(NEWLINE);
    if (last === -1) {
      // Copied: the shared buffer is another file's next read.
      this.#pending = [Buffer.from(data)];
      this.#pendingBytes = data.length;
      return {
        bytesRead,
        lines: this.#pendingBytes >= this.maxLineBytes ? this.#cutLongLine() : undefined,
      };
    }
    const rest = data.subarray(last + 1);
    this.#pending = rest.length === 0 ? [] : [Buffer.from(rest)];
    this.#pendingBytes = rest.length;
    return { bytesRead, lines: data.subarray(0, last + 1) };
  }

  /** The partial line with a newline added (the source ended), or undefined when none. */
  flush(): Buffer | undefined {
    if (this.#pendingBytes === 0) return undefined;
    const line = Buffer.concat([...this.#pending, Buffer.from('\n')]);
    this.reset();
    return line;
  }

  /** Forgets the partial line (the file was truncated under it). */
  reset(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
  }

  /** Hands on whole pieces of `maxLineBytes`, keeping the rest pending. */
  #cutLongLine(): Buffer {
    const all = Buffer.concat(this.#pending);
    const pieces: Buffer[] = [];
    let at = 0;
    while (all.length - at >= this.maxLineBytes) {
      pieces.push(all.subarray(at, at + this.maxLineBytes), Buffer.from('\n'));
      at += this.maxLineBytes;
    }
    const rest = all.subarray(at);
    this.#pending = rest.length === 0 ? [] : [Buffer.from(rest)];
    this.#pendingBytes = rest.length;
    return Buffer.concat(pieces);
  }
}

/** Newlines in `data`. */
export function countLines(data: Buffer): number {
  let n = 0;
  for (let i = data.indexOf(NEWLINE); i !== -1; i = data.indexOf(NEWLINE, i + 1)) n++;
  return n;
}
