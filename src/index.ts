/**
 * s3worker's public API: what a user subclasses or calls from their own job module.
 */

/** The zod that job schemas are built with: extend a `configSchema` with this one, not another copy. */
export { z } from 'zod';
export { type AwsOptions, awsOptionsSchema } from './config/aws-options.js';
export { durationSchema, parseDuration } from './config/duration-schema.js';
export { type RuntimeOptions, runtimeOptionsSchema } from './config/runtime-options.js';
export { parseSize, sizeInRange, sizeSchema } from './config/size-schema.js';
export {
  TRANSFER_DEFAULTS,
  type TransferSettings,
  transferOptionsSchema,
} from './config/transfer-options.js';
export {
  ConfigError,
  type ErrorContext,
  ExitCode,
  InterruptedError,
  S3WorkerError,
} from './errors.js';
export { DatabaseBackupJob } from './jobs/db-backup/database-backup-job.js';
export { DatabaseRestoreJob } from './jobs/db-restore/database-restore-job.js';
export {
  type HealthSignals,
  Job,
  type JobClass,
  type JobContext,
  type JobResult,
  type ProgressReporter,
} from './jobs/job.js';
export type { JobMetric, MetricUnit } from './jobs/job-metrics.js';
export {
  type ChunkTransform,
  type RecordMapOptions,
  recordMap,
  type TransformSpec,
  type TransformStage,
} from './jobs/kit/transforms.js';
export { loadHandler } from './jobs/load-handler.js';
export type { Permission } from './jobs/permissions.js';
export { createJobRegistry, JobRegistry } from './jobs/registry.js';
export type { ShipperTask } from './jobs/ship-logs/key-fields.js';
export { LogShipperJob } from './jobs/ship-logs/log-shipper-job.js';
export {
  type StreamTransformConfig,
  streamTransformConfigSchema,
} from './jobs/stream-transform/config.js';
export { ObjectTransformJob } from './jobs/stream-transform/object-transform-job.js';
export type { SourceObject } from './jobs/stream-transform/source-object.js';
export type { TaskMetadata } from './jobs/task-metadata.js';
export { type RunJobOptions, runJob } from './runtime/run-job.js';
export {
  type CreatedS3Client,
  createS3Client,
  type S3ClientFactoryOptions,
} from './s3/client.js';
export { explainS3Error } from './s3/explain-error.js';
export { ByteBudget } from './transfer/byte-budget.js';
export type { DownloadOptions } from './transfer/download-options.js';
export type { ObjectWriteOptions, SseOption } from './transfer/object-write-options.js';
export { Transfer, type TransferOptions } from './transfer/transfer.js';
export type { PutObjectOptions, UploadOptions, UploadResult } from './transfer/upload.js';
export type { UploadBody, UploadFileBody } from './transfer/upload-part-reader.js';
