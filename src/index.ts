/**
 * s3worker's public API: what a user subclasses or calls from their own job module.
 */

export { type AwsOptions, awsOptionsSchema } from './config/aws-options.js';
export {
  ConfigError,
  type ErrorContext,
  ExitCode,
  InterruptedError,
  S3WorkerError,
} from './errors.js';
export {
  Job,
  type JobClass,
  type JobContext,
  type JobResult,
  type ProgressReporter,
} from './jobs/job.js';
export type { Permission } from './jobs/permissions.js';
export {
  type StreamTransformConfig,
  streamTransformConfigSchema,
} from './jobs/stream-transform/config.js';
export {
  ObjectTransformJob,
  type SourceObject,
} from './jobs/stream-transform/object-transform-job.js';
export {
  type ChunkTransform,
  type RecordMapOptions,
  recordMap,
  type TransformSpec,
  type TransformStage,
} from './jobs/stream-transform/transforms.js';
