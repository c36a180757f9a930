import { S3WorkerError } from '../../errors.js';

/** The output exists and does not record this source; `--overwrite` replaces it. */
export class OutputExistsError extends S3WorkerError {
  constructor(bucket: string, key: string, sourceKey: string) {
    super(
      `output s3://${bucket}/${key} exists and was not written from this version of ${sourceKey}`,
      {
        code: 'OutputExists',
        context: { bucket, key, sourceKey },
        hint: 'delete the output, or run with --overwrite to replace outputs whose source changed',
      },
    );
  }
}

/** In keys mode, a key outside the input prefix: it would escape the declared (and granted) input. */
export class KeyOutsideInputError extends S3WorkerError {
  constructor(bucket: string, key: string, prefix: string) {
    super(
      `key ${JSON.stringify(key)} from the keys file is not under the input prefix ${JSON.stringify(prefix)}`,
      {
        code: 'KEY_OUTSIDE_INPUT',
        context: { bucket, key, prefix },
        hint: 'list full keys that start with the input prefix, or widen --input',
      },
    );
  }
}
