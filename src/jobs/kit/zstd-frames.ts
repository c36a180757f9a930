/**
 * The frame layer of the zstd format (RFC 8878, section 3.1): where each frame of a stream of
 * concatenated frames begins and ends, read from headers alone, without decompressing.
 */

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames use the 16 magic numbers 0x184D2A50 to 0x184D2A5F. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/** Bytes enough to parse any frame header: magic 4, descriptor 1, window 1, dictionary id 4, content size 8. */
export const MAX_FRAME_HEADER = 18;

/** A zstd frame's header, as far as finding the frame's end and sizing its output need. */
export interface ZstdFrameHeader {
  kind: 'zstd';
  /** Bytes of the header, magic number included. */
  headerSize: number;
  /** Decompressed size written in the header, or undefined when the writer did not know it. */
  contentSize: number | undefined;
  /** Whether a 4-byte checksum follows the last block. */
  checksum: boolean;
}

/** A skippable frame (user data that decoders pass over). */
export interface SkippableFrameHeader {
  kind: 'skippable';
  /** Bytes of the whole frame: its 8-byte header and its data. */
  frameSize: number;
}

export type FrameHeader = ZstdFrameHeader | SkippableFrameHeader;

/**
 * Parses the header of the frame that starts at `bytes[0]`.
 * @returns the header, or undefined when more bytes are needed to tell.
 * @throws RangeError when the bytes are not a zstd or skippable frame, or use reserved bits.
 */
export function parseFrameHeader(bytes: Uint8Array): FrameHeader | undefined {
  if (bytes.length < 4) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
    if (bytes.length < 8) return undefined;
    return { kind: 'skippable', frameSize: 8 + view.getUint32(4, true) };
  }
  if (magic !== ZSTD_MAGIC) {
    throw new RangeError(
      `not a zstd frame (magic number 0x${magic.toString(16).padStart(8, '0')})`,
    );
  }
  if (bytes.length < 5) return undefined;
  const descriptor = bytes[4]!;
  // Bit 3 is reserved and must be zero.
  if ((descriptor & 0x08) !== 0)
    throw new RangeError('zstd frame header with the reserved bit set');
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor & 0x20) !== 0;
  const checksum = (descriptor & 0x04) !== 0;
  const dictIdSize = [0, 1, 2, 4][descriptor & 0x03]!;
  const fcsSize = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  const headerSize = 5 + (singleSegment ? 0 : 1) + dictIdSize + fcsSize;
  if (bytes.length < headerSize) return undefined;
  const at = headerSize - fcsSize;
  let contentSize: number | undefined;
  switch (fcsSize) {
    case 1:
      contentSize = view.getUint8(at);
      break;
    case 2:
      contentSize = view.getUint16(at, true) + 256;
      break;
    case 4:
      contentSize = view.getUint32(at, true);
      break;
    case 8:
      contentSize = Number(view.getBigUint64(at, true));
      break;
  }
  return { kind: 'zstd', headerSize, contentSize, checksum };
}

/** What {@link FrameEndFinder.feed} found in a chunk. */
export interface FeedResult {
  /** Bytes at the start of the chunk that belong to the frame. */
  consumed: number;
  /** Whether the frame ended within them. */
  done: boolean;
}

type State = 'header' | 'blockHeader' | 'blockBody' | 'checksum' | 'done';

/**
 * Follows one frame through the chunks of a stream, from its first byte, and says where it ends:
 * it skips the header, reads each block's 3-byte header (last-block flag, type, size) and skips
 * the block, then the checksum. Chunks may split any field. Cost: a few operations per block
 * (128 KiB of output at most each); no byte is copied.
 */
export class FrameEndFinder {
  #state: State;
  /** Bytes still to skip in the current state. */
  #remaining: number;
  /** A block header split across chunks: the bytes seen so far. */
  #blockHeader = 0;
  #blockHeaderBytes = 0;
  #lastBlock = false;
  readonly #checksum: boolean;

  constructor(header: FrameHeader) {
    if (header.kind === 'skippable') {
      this.#state = 'header';
      this.#remaining = header.frameSize;
      this.#checksum = false;
      this.#lastBlock = true;
    } else {
      this.#state = 'header';
      this.#remaining = header.headerSize;
      this.#checksum = header.checksum;
    }
  }

  /** Whether the frame's last byte has been seen. */
  get done(): boolean {
    return this.#state === 'done';
  }

  /**
   * Reads `chunk`, which continues the frame where the previous chunk stopped.
   * @throws RangeError on a block of the reserved type (the stream is corrupt).
   */
  feed(chunk: Uint8Array): FeedResult {
    let at = 0;
    while (this.#state !== 'done' && at < chunk.length) {
      switch (this.#state) {
        case 'header':
        case 'blockBody':
        case 'checksum': {
          const skip = Math.min(this.#remaining, chunk.length - at);
          at += skip;
          this.#remaining -= skip;
          if (this.#remaining === 0) this.#next();
          break;
        }
        case 'blockHeader': {
          this.#blockHeader |= chunk[at]! << (8 * this.#blockHeaderBytes);
          at += 1;
          this.#blockHeaderBytes += 1;
          if (this.#blockHeaderBytes === 3) this.#startBlock();
          break;
        }
      }
    }
    return { consumed: at, done: this.#state === 'done' };
  }

  /** After the header, a block or the checksum: what comes next. */
  #next(): void {
    if (this.#state === 'checksum' || (this.#lastBlock && this.#state === 'header')) {
      this.#state = 'done';
    } else if (this.#state === 'header' || (this.#state === 'blockBody' && !this.#lastBlock)) {
      this.#state = 'blockHeader';
      this.#blockHeader = 0;
      this.#blockHeaderBytes = 0;
    } else if (this.#state === 'blockBody') {
      this.#state = this.#checksum ? 'checksum' : 'done';
      this.#remaining = 4;
    }
  }

  #startBlock(): void {
    const header = this.#blockHeader;
    this.#lastBlock = (header & 1) === 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) throw new RangeError('zstd block of the reserved type: the stream is corrupt');
    this.#state = 'blockBody';
    // A run-length block holds one byte, repeated `size` times when decoded.
    this.#remaining = type === 1 ? 1 : size;
    if (this.#remaining === 0) this.#next();
  }
}
