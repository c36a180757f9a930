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
