import { S3WorkerError } from '../../errors.js';

/** A rendered key would leave the output prefix (a `..` climbing above it) or is empty. */
export class UnsafeOutputKeyError extends S3WorkerError {
  constructor(key: string, rendered: string, reason: string) {
    super(`output key for ${JSON.stringify(key)} is unsafe: ${reason}`, {
      code: 'UNSAFE_OUTPUT_KEY',
      context: { key, rendered },
      hint: 'change --key-template (or the source key) so the output stays under the output prefix',
    });
  }
}
