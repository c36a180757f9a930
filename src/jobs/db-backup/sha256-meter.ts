import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** Options of {@link Sha256Meter}. */
export interface Sha256MeterOptions {
  /** Checks the digest at the end; an error returned fails the stream before its end passes on. */
  verify?: (hex: string, bytes: number) => Error | undefined;
  /** Called with each chunk's size as it passes (progress). */
  onBytes?: (bytes: number) => void;
}

/**
 * A pass-through stage that counts bytes and computes their SHA-256, for the manifest (on the
 * way up) and for verification (on the way down). `verify`, when given, runs in `flush` with
 * the digest: an error it returns fails the stream before its end reaches the next stage.
 */
export class Sha256Meter extends Transform {
  bytes = 0;
  #hash: Hash = createHash('sha256');
  #digest: string | undefined;
  readonly #options: Sha256MeterOptions;

  constructor(options: Sha256MeterOptions = {}) {
    super();
    this.#options = options;
  }

  /** The hex digest, once the stream has ended. */
  get digest(): string {
    if (this.#digest === undefined) throw new Error('Sha256Meter: the stream has not ended');
    return this.#digest;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.#hash.update(chunk);
    this.#options.onBytes?.(chunk.length);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#digest = this.#hash.digest('hex');
    callback(this.#options.verify?.(this.#digest, this.bytes) ?? null);
  }
}
