import { ConfigError } from '../../errors.js';
import type { ObjectWriteOptions } from '../../transfer/object-write-options.js';
import { Job, type JobContext, type JobResult } from '../job.js';
import { objectWriteOptions, outputPermissions } from '../kit/output-options.js';
import type { Permission } from '../permissions.js';
import { type ShipLogsConfig, shipLogsConfigProblems, shipLogsConfigSchema } from './config.js';
import type { ShipperTask } from './key-fields.js';
import { toNdjson } from './record-format.js';
import { batchContentHeaders, ShipLogsRun } from './ship-logs-run.js';

/**
 * The ship-logs job: tails files (or stdin) and writes their lines to S3 in compressed,
 * time-partitioned batches, at least once — sealed batches wait in a local spool until S3 has
 * acknowledged them, and read positions are checkpointed only then.
 *
 * Subclass it to change what a record looks like ({@link formatRecords}) or how batches are
 * written ({@link objectWriteOptions}), set a new static `jobName`, and load the module with
 * `--handler`.
 */
export class LogShipperJob extends Job<ShipLogsConfig> {
  static override readonly jobName: string = 'ship-logs';
  static override readonly description: string =
    'Tail log files (or stdin) into compressed, time-partitioned S3 objects, at least once, with a local spool';
  static override readonly configSchema = shipLogsConfigSchema;
  /**
   * One 5 MiB part in flight: a shipper uploads a few MB/s of compressed batches from its spool,
   * which one connection carries, and every part in flight is a part of memory. Measured with
   * `node bench/ship-logs.mjs` (gzip -1, 130 MB/s of lines): peak RSS 122-125 MiB, against
   * 124-148 with one 8 MiB part and 148-163 with the run's 4 parts of 8 MiB; lines/s the same.
   * Raise `--queue-size` for uncompressed logs at high rates over a slow link.
   */
  static override readonly transferDefaults = { queueSize: 1, partSize: 5 * 1024 * 1024 };

  constructor(config: ShipLogsConfig) {
    super(config);
    const issues = shipLogsConfigProblems(config);
    if (issues.length > 0) throw new ConfigError(issues);
  }

  /** Writes of batches under the output prefix, and the read that keeps keys from colliding. */
  permissions(): Permission[] {
    const { output, sweepAge } = this.config;
    const where = { bucket: output.bucket, prefix: output.prefix };
    const perms: Permission[] = [
      { action: 's3:PutObject', ...where, reason: 'write batches of lines' },
      {
        action: 's3:AbortMultipartUpload',
        ...where,
        reason: 'abort the upload of a batch that failed or was interrupted',
      },
      {
        action: 's3:GetObject',
        ...where,
        reason:
          'tell a batch uploaded before a restart from another object at its key (HeadObject)',
      },
    ];
    if (sweepAge > 0) {
      perms.push({
        action: 's3:ListBucketMultipartUploads',
        ...where,
        reason: 'find incomplete uploads left by a killed shipper (start sweep)',
      });
    }
    return [...perms, ...outputPermissions(this.config, where)];
  }

  /**
   * The records of one chunk of complete lines in `--format ndjson`: each line as a JSON
   * object with timestamp, file, message and task metadata. Override to add fields or parse
   * the line; return complete records, each ending with `\n`. `lines` is a view of the read
   * buffer, valid during this call only (the next read reuses it): copy what you keep. `task`
   * is the run's `ctx.task` with `cluster` and `family` `none` and `taskId` the host name
   * outside ECS.
   */
  formatRecords(lines: Buffer, file: string, task: ShipperTask): Buffer {
    return toNdjson(lines, file, task, new Date());
  }

  /** Options of every batch's write: content type and encoding, and the output options (SSE, tags, ...). */
  objectWriteOptions(): ObjectWriteOptions {
    return { ...objectWriteOptions(this.config), ...batchContentHeaders(this.config) };
  }

  async run(ctx: JobContext<ShipLogsConfig>): Promise<JobResult> {
    return new ShipLogsRun(this, ctx).run();
  }
}
