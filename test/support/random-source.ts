import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

const MiB = 1024 * 1024;

/**
 * `total` random bytes as a stream, made a chunk at a time so the test holds little memory, with
 * the SHA-256 of what was sent. With `failAfter`, the stream errors once that many bytes are out.
 */
export function randomSource(
  total: number,
  options: { chunk?: number; failAfter?: number } = {},
): { stream: Readable; digest: () => string } {
  const chunk = options.chunk ?? MiB;
  const hash = createHash('sha256');
  let sent = 0;
  const stream = new Readable({
    read() {
      if (options.failAfter !== undefined && sent >= options.failAfter) {
        this.destroy(new Error('source broke on purpose'));
        return;
      }
      if (sent >= total) {
        this.push(null);
        return;
      }
      const buf = randomBytes(Math.min(chunk, total - sent));
      sent += buf.length;
      hash.update(buf);
      this.push(buf);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}
