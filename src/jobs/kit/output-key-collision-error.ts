import { S3WorkerError } from '../../errors.js';

/** Two inputs map to one output key: the later one is refused instead of overwriting the first. */
export class OutputKeyCollisionError extends S3WorkerError {
  /**
   * @param key the source key refused.
   * @param outputKey the output key it maps to.
   * @param otherKey the source that owns the output, when known (an earlier run's, from its metadata).
   */
  constructor(key: string, outputKey: string, otherKey?: string) {
    const owner =
      otherKey === undefined
        ? 'another input of this run'
        : `${JSON.stringify(otherKey)} (recorded on the output)`;
    super(
      `output key ${JSON.stringify(outputKey)} of ${JSON.stringify(key)} is also the output of ${owner}; not written`,
      {
        code: 'OUTPUT_KEY_COLLISION',
        context: { key, outputKey, ...(otherKey === undefined ? {} : { otherKey }) },
        hint: 'two inputs map to one output: change --key-template (keep {relkey} or {name}{ext}), end --input with a slash, or rename one of the inputs',
      },
    );
  }
}
