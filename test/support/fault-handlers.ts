import { Readable, Transform } from 'node:stream';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** Passes responses through, except that it flips the first body byte of GETs whose Range header `corrupts` picks. */
export class FlipFirstByte extends NodeHttpHandler {
  constructor(private readonly corrupts: (range: string | undefined) => boolean) {
    super();
  }

  override async handle(...args: Parameters<NodeHttpHandler['handle']>) {
    const result = await super.handle(...args);
    const range = args[0].headers.range ?? args[0].headers.Range;
    const isGet = args[0].method === 'GET';
    if (isGet && this.corrupts(range) && result.response.body instanceof Readable) {
      let flipped = false;
      const flip = new Transform({
        transform(chunk: Buffer, _enc, done) {
          if (!flipped && chunk.length > 0) {
            flipped = true;
            const copy = Buffer.from(chunk);
            copy[0] = (copy[0] ?? 0) ^ 0xff;
            done(null, copy);
            return;
          }
          done(null, chunk);
        },
      });
      result.response.body = result.response.body.pipe(flip);
    }
    return result;
  }
}

/**
 * Passes responses through, except that the bodies of the first `times` whole-object GETs end
 * early, without an error, after half their bytes: what a faulty proxy or server does.
 */
export class TruncateGetBodies extends NodeHttpHandler {
  truncated = 0;

  constructor(private readonly times = Number.POSITIVE_INFINITY) {
    super();
  }

  override async handle(...args: Parameters<NodeHttpHandler['handle']>) {
    const result = await super.handle(...args);
    const request = args[0];
    const ranged = request.headers.range !== undefined || request.headers.Range !== undefined;
    const body = result.response.body;
    const length = Number(result.response.headers['content-length'] ?? 0);
    const getObject = request.method === 'GET' && request.query?.['x-id'] === 'GetObject';
    if (!getObject || ranged || !(body instanceof Readable) || length < 2) {
      return result;
    }
    if (this.truncated >= this.times) return result;
    this.truncated++;
    let left = Math.floor(length / 2);
    const cut = new Transform({
      transform(chunk: Buffer, _enc, done) {
        const keep = chunk.subarray(0, Math.max(0, left));
        left -= keep.length;
        done(null, keep.length > 0 ? keep : undefined);
        if (left <= 0) {
          body.destroy();
          this.push(null);
        }
      },
    });
    result.response.body = body.pipe(cut);
    return result;
  }
}

/** Passes responses through, except that ListObjectsV2 pages lose their `NextContinuationToken`. */
export class DropContinuationToken extends NodeHttpHandler {
  override async handle(...args: Parameters<NodeHttpHandler['handle']>) {
    const result = await super.handle(...args);
    const body = result.response.body;
    if (args[0].query?.['list-type'] !== '2' || !(body instanceof Readable)) return result;
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    const xml = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/<NextContinuationToken>[^<]*<\/NextContinuationToken>/, '');
    result.response.body = Readable.from([Buffer.from(xml)]);
    delete result.response.headers['content-length'];
    return result;
  }
}

/** Passes every request through and keeps the names of the headers each one carried. */
export class RecordHeaders extends NodeHttpHandler {
  readonly requests: Array<{ method: string; headers: string[] }> = [];

  override async handle(...args: Parameters<NodeHttpHandler['handle']>) {
    const request = args[0];
    this.requests.push({
      method: request.method,
      headers: Object.keys(request.headers).map((h) => h.toLowerCase()),
    });
    return super.handle(...args);
  }
}
