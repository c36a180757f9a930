import { S3WorkerError } from '../../errors.js';

/**
 * A decompressing stage met bytes that are not (or no longer) the format it decodes: a stream
 * cut short, garbage after the last frame, an input that is empty or of another format.
 * `context.offset` is the byte of the compressed input where it was found.
 */
export class CorruptInputError extends S3WorkerError {
  constructor(format: string, problem: string, offset: number, cause?: unknown) {
    super(`${format} input is corrupt at byte ${offset}: ${problem}`, {
      code: 'CORRUPT_INPUT',
      context: { offset },
      cause,
      hint: `check that the object is a complete ${format} file (e.g. \`${format} -t\` on a copy); an upload cut short or another format gives this`,
    });
  }
}
