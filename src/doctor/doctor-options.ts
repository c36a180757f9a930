import { z } from 'zod';
import { awsOptionsSchema } from '../config/aws-options.js';
import { runtimeOptionsSchema } from '../config/runtime-options.js';
import { s3UrlSchema } from '../config/s3-location.js';

const awsKeys = Object.fromEntries(Object.keys(awsOptionsSchema.shape).map((k) => [k, true])) as {
  [K in keyof typeof awsOptionsSchema.shape]: true;
};

/**
 * `s3worker doctor`'s options: the locations to probe, `--json`, and the shared AWS and logging
 * options (same flags and `S3WORKER_*` variables as `run`).
 */
export const doctorOptionsSchema = z
  .object({
    input: s3UrlSchema
      .optional()
      .describe(
        's3://bucket/prefix the job reads: probes ListBucket on it and GetObject of one object',
      ),
    output: s3UrlSchema
      .optional()
      .describe(
        's3://bucket/prefix the job writes: probes PutObject and AbortMultipartUpload with a multipart upload started and aborted',
      ),
    json: z.boolean().default(false).describe('print the report as JSON'),
  })
  .extend(runtimeOptionsSchema.pick({ ...awsKeys, logLevel: true }).shape);

export type DoctorCliOptions = z.infer<typeof doctorOptionsSchema>;
