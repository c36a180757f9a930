import { parseS3Url } from '../../config/s3-location.js';
import type { TransferSettings } from '../../config/transfer-options.js';
import { ConfigError } from '../../errors.js';
import { useNativeCrc32 } from '../../transfer/crc32.js';
import { Job, type JobClass, type JobContext, type JobResult } from '../job.js';
import {
  applyDefaultSuffixes,
  type BuiltinTransformName,
  createBuiltinTransform,
  guessContentType,
} from '../kit/builtin-transforms.js';
import { renderKeyTemplate } from '../kit/key-template.js';
import { objectWriteOptions, outputPermissions } from '../kit/output-options.js';
import { queuePermissions } from '../kit/queue/queue-options.js';
import type { TransformSpec } from '../kit/transforms.js';
import type { Permission } from '../permissions.js';
import {
  crossFieldProblems,
  type StreamTransformConfig,
  streamTransformConfigSchema,
} from './config.js';
import { ObjectTransformRun } from './object-transform-run.js';
import { reportPermissions } from './report-permissions.js';
import type { SourceObject } from './source-object.js';

/**
 * The stream-transform job: every object under the input prefix (or named in a keys file),
 * filtered, streamed through a transform chain, and written under the output prefix — all
 * streaming, several objects at once, memory bounded by one byte budget.
 *
 * Subclass it to change what is processed and how: override {@link filter},
 * {@link outputKey} or {@link transform} (see `recordMap` for per-line maps), set a new static
 * `jobName`, and load the module with `--handler`.
 */
export class ObjectTransformJob extends Job<StreamTransformConfig> {
  static override readonly jobName: string = 'stream-transform';
  static override readonly description: string =
    'Stream objects from an input prefix through transforms (gzip, zstd, user code) into an output prefix';
  static override readonly configSchema = streamTransformConfigSchema;

  constructor(config: StreamTransformConfig) {
    super(config);
    const issues = crossFieldProblems(config);
    if (issues.length > 0) throw new ConfigError(issues);
  }

  /** What this config needs: reads under the input, writes and resume checks under the output. */
  permissions(): Permission[] {
    const { input, output, config } = { ...this.config, config: this.config };
    const perms: Permission[] = [];
    const reported = config.inventory !== undefined || config.manifest !== undefined;
    if (config.keys === undefined && config.queue === undefined && !reported) {
      perms.push({
        action: 's3:ListBucket',
        bucket: input.bucket,
        prefix: input.prefix,
        reason: 'list input objects',
      });
    }
    perms.push({
      action: 's3:GetObject',
      bucket: input.bucket,
      prefix: input.prefix,
      reason: 'read input objects',
    });
    perms.push(...queuePermissions(config), ...reportPermissions(config));
    if (config.keys?.startsWith('s3://')) {
      const keysFile = parseS3Url(config.keys, 'keys');
      perms.push({
        action: 's3:GetObject',
        bucket: keysFile.bucket,
        prefix: keysFile.prefix,
        reason: 'read the keys file',
      });
    }
    perms.push({
      action: 's3:GetObject',
      bucket: output.bucket,
      prefix: output.prefix,
      reason: 'resume: read the source recorded on existing outputs (HeadObject)',
    });
    // Without ListBucket, S3 answers HeadObject on a missing key with 403 instead of 404.
    perms.push({
      action: 's3:ListBucket',
      bucket: output.bucket,
      prefix: output.prefix,
      reason: 'resume: tell a missing output (404, not 403) and an empty output prefix',
    });
    if (config.dryRun) return perms;
    perms.push(
      {
        action: 's3:PutObject',
        bucket: output.bucket,
        prefix: output.prefix,
        reason: 'write outputs and the failure report',
      },
      {
        action: 's3:AbortMultipartUpload',
        bucket: output.bucket,
        prefix: output.prefix,
        reason: 'abort uploads that failed or were interrupted, and stale ones in the start sweep',
      },
    );
    if (config.sweepAge > 0) {
      perms.push({
        action: 's3:ListBucketMultipartUploads',
        bucket: output.bucket,
        prefix: output.prefix,
        reason: 'find incomplete uploads left by a killed task (start sweep)',
      });
    }
    perms.push(...outputPermissions(config, { bucket: output.bucket, prefix: output.prefix }));
    return perms;
  }

  /** A socket for every range and part that may be in flight at once, plus the listing and HEADs. */
  override maxSockets(transfer: TransferSettings): number {
    const { queueSize, rangeConcurrency } = transfer;
    return this.config.concurrency * (queueSize + rangeConcurrency) + 4;
  }

  /**
   * Whether to process `object`, after the built-in filters (globs, sizes, dates) and the shard
   * accepted it. Default: yes.
   */
  filter(_object: SourceObject): boolean | Promise<boolean> {
    return true;
  }

  /**
   * The output key of `object`, relative to the output prefix. The result is normalised and
   * checked: `.`/empty segments are dropped and a `..` climbing above the prefix fails the
   * object, so no override can write outside the output prefix. Default: `--key-template`, or
   * `{relkey}` with the chain's suffixes (`.gz` after gzip, removed by gunzip).
   */
  outputKey(object: SourceObject): string {
    const { keyTemplate } = this.config;
    if (keyTemplate !== undefined) return renderKeyTemplate(keyTemplate, object);
    return applyDefaultSuffixes(object.relKey, this.config.transform);
  }

  /**
   * The transform chain for `object`: a Node `Transform`, an async generator function over
   * chunks, a `recordMap(...)`, or an array of those run in order. Called once per object; return
   * new streams every time. Default: the built-ins named by `--transform`.
   */
  transform(_object: SourceObject): TransformSpec | Promise<TransformSpec> {
    return this.config.transform
      .map((name) => createBuiltinTransform(name, this.config))
      .filter((t): t is NonNullable<typeof t> => t !== undefined);
  }

  /**
   * Names what produced an output, recorded in its metadata: an output made by another job or
   * another chain is not "already done". Default: `<jobName>:<transforms joined by +>`.
   */
  transformId(): string {
    const jobName = (this.constructor as JobClass).jobName;
    return `${jobName}:${this.config.transform.join('+')}`;
  }

  /**
   * The version of this handler's own output-affecting code, recorded (through
   * {@link outputSettings}) on every output: bump it when `transform` or `outputKey` start
   * producing other bytes, and a re-run rewrites outputs made by the old code instead of skipping
   * them as current. Default `''`.
   */
  handlerVersion(): string {
    return '';
  }

  /**
   * Everything that decides an output's bytes and attributes, digested into the fingerprint each
   * output records (`s3worker-fingerprint`): a re-run skips an output only when its source and
   * these settings are unchanged. Default: the transform id and levels, the handler's version,
   * content type, and the output options (metadata, tags, storage class, SSE, checksum).
   * Override to add settings of your own (call `super.outputSettings()` and extend it).
   */
  outputSettings(): Record<string, unknown> {
    const { config } = this;
    return {
      transform: this.transformId(),
      handlerVersion: this.handlerVersion(),
      gzipLevel: config.transform.includes('gzip') ? config.gzipLevel : undefined,
      zstdLevel: config.transform.includes('zstd') ? config.zstdLevel : undefined,
      contentType: config.contentType,
      write: objectWriteOptions(config),
    };
  }

  /** Content-Type of an output: `--content-type`, else derived from the chain and the key. */
  contentType(_object: SourceObject, outputKey: string): string {
    return (
      this.config.contentType ??
      guessContentType(outputKey, this.config.transform as BuiltinTransformName[])
    );
  }

  async run(ctx: JobContext<StreamTransformConfig>): Promise<JobResult> {
    // Gigabytes go through CRC32 here: the faster one is worth its memory (see useNativeCrc32).
    useNativeCrc32();
    return new ObjectTransformRun(this, ctx).run();
  }
}
