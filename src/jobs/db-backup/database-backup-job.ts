import { type Duplex, pipeline } from 'node:stream';
import type { Logger } from 'pino';
import type { TransferSettings } from '../../config/transfer-options.js';
import { ConfigError, ExitCode, InterruptedError, S3WorkerError } from '../../errors.js';
import { useNativeCrc32 } from '../../transfer/crc32.js';
import type { UploadResult } from '../../transfer/upload.js';
import { Job, type JobContext, type JobResult } from '../job.js';
import { BufferGarbageLimit } from '../kit/buffer-garbage-limit.js';
import { type Codec, codecContentType, codecExtension, compressStage } from '../kit/compression.js';
import { objectWriteOptions, outputPermissions } from '../kit/output-options.js';
import { pumpInto } from '../kit/pump-into.js';
import { sweepStaleUploads } from '../kit/sweep-stale-uploads.js';
import { taskObjectMetadata } from '../kit/task-object-metadata.js';
import type { Permission } from '../permissions.js';
import { AGE_EXTENSION, ageEncryptStage, loadRecipients } from './age-encryption.js';
import { type CatalogEntry, listCatalog, type OrphanObject } from './backup-catalog.js';
import { backupKeyPattern, backupListPrefix, GLOBALS_NAME, renderBackupKey } from './backup-key.js';
import { BackupMetrics } from './backup-metrics.js';
import {
  backupConfigProblems,
  type DatabaseBackupConfig,
  databaseBackupConfigSchema,
} from './config.js';
import { type Connection, describeConnection, resolveConnection } from './connection.js';
import { DumpGuard } from './dump-guard.js';
import { createEngine } from './engines/create-engine.js';
import type { ClientTools, DatabaseEngine, DumpPlan } from './engines/engine.js';
import { lastGoodBackup } from './last-good-backup.js';
import {
  MANIFEST_FORMAT,
  type Manifest,
  manifestKeyOf,
  manifestTask,
  s3workerVersion,
} from './manifest.js';
import { applyRetention, deleteOrphans, planRetention, staleOrphans } from './retention.js';
import { SecretDir } from './secret-dir.js';
import { Sha256Meter } from './sha256-meter.js';
import { copyStage, ToolOutput } from './tool-output.js';
import { startTool } from './tool-process.js';
import type { DbVersion } from './version-match.js';

/** One backup made (or not) by a run. */
interface BackupTarget {
  /** Database name, or GLOBALS_NAME. */
  name: string;
  plan: DumpPlan;
}

/**
 * The db-backup job: dumps PostgreSQL or MySQL/MariaDB databases with their own tools and
 * streams each dump through compression and optional age encryption into a multipart upload
 * of unknown length (no temp file), then writes a manifest beside it. A dump that fails, is
 * killed or looks truncated aborts its upload and leaves no object and no manifest. The
 * password reaches the tools through a 0600 file, never their command line.
 *
 * Subclass it to change the engine (`createEngine`) or where the environment comes from.
 */
export class DatabaseBackupJob extends Job<DatabaseBackupConfig> {
  static override readonly jobName: string = 'db-backup';
  static override readonly description: string =
    'Back up PostgreSQL or MySQL/MariaDB databases to S3: streamed, compressed, optionally encrypted, with a manifest and retention';
  static override readonly configSchema = databaseBackupConfigSchema;
  /**
   * Two 5 MiB parts in flight: a dump arrives at the speed of the server's COPY and usually
   * leaves the compressor several times smaller, and every part in flight is a part of memory.
   * Measured on a 1 GB pgbench dump stored uncompressed (the worst case for memory): peak RSS
   * 125 MiB against 140 with the run's 4 parts of 8 MiB, 10% slower to a local MinIO.
   */
  static override readonly transferDefaults = { queueSize: 2, partSize: 5 * 1024 * 1024 };

  constructor(config: DatabaseBackupConfig) {
    super(config);
    const issues = backupConfigProblems(config);
    if (issues.length > 0) throw new ConfigError(issues);
  }

  /** Retention reads and deletes under the prefix; without it the task only writes. */
  get retentionEnabled(): boolean {
    return this.config.keepLast !== undefined || this.config.keepDays !== undefined;
  }

  /**
   * Without retention: write backups and manifests, abort its own failed uploads (and sweep
   * stale ones). It may not read or delete anything. With retention: also list, read
   * manifests and (unless --dry-run) delete, all under the output prefix only.
   */
  permissions(): Permission[] {
    const { output, config } = { output: this.config.output, config: this.config };
    const at = { bucket: output.bucket, prefix: output.prefix };
    const perms: Permission[] = [];
    if (!config.retentionOnly) {
      perms.push(
        { action: 's3:PutObject', ...at, reason: 'write backups and their manifests' },
        {
          action: 's3:AbortMultipartUpload',
          ...at,
          reason: 'abort the upload of a failed dump (and stale ones in the start sweep)',
        },
      );
      if (config.sweepAge > 0) {
        perms.push({
          action: 's3:ListBucketMultipartUploads',
          ...at,
          reason: 'find incomplete uploads left by a killed task (start sweep)',
        });
      }
      perms.push(...outputPermissions(config, at));
    }
    if (this.retentionEnabled) {
      perms.push(
        { action: 's3:ListBucket', ...at, reason: 'retention: find backups and manifests' },
        { action: 's3:GetObject', ...at, reason: 'retention: read manifests' },
      );
      if (!config.dryRun) {
        perms.push({ action: 's3:DeleteObject', ...at, reason: 'retention: delete old backups' });
      }
    }
    return perms;
  }

  /** One upload at a time: its parts in flight, plus the manifest and retention's requests. */
  override maxSockets(transfer: TransferSettings): number {
    return transfer.queueSize + 4;
  }

  /** Where connection variables (PGHOST, MYSQL_PWD, the URL variable) are read. Default `process.env`. */
  protected environment(): NodeJS.ProcessEnv {
    return process.env;
  }

  /** The engine for this config; override to drive another one. */
  protected createEngine(connection: Connection, secrets: SecretDir): Promise<DatabaseEngine> {
    return createEngine(this.config, connection, secrets, this.environment());
  }

  async run(ctx: JobContext<DatabaseBackupConfig>): Promise<JobResult> {
    // Gigabytes go through CRC32 here: the faster one is worth its memory (see useNativeCrc32).
    useNativeCrc32();
    const metrics = new BackupMetrics();
    metrics.report(ctx.progress);
    const covered: CoveredDatabases = {
      names: this.config.allDatabases
        ? undefined
        : this.config.database.filter((n) => !this.config.excludeDatabase.includes(n)),
      made: new Map(),
    };
    try {
      const secrets = await SecretDir.create(ctx.tmpDir);
      try {
        const connection = await resolveConnection(this.config, this.environment());
        const engine = await this.createEngine(connection, secrets);
        return await new BackupRun(this, ctx, engine, connection, secrets, metrics, covered).run();
      } finally {
        await secrets.dispose();
      }
    } finally {
      // Also when the run failed: the age then is the previous good backup's. Never throws,
      // so the run's own error is the one that reaches the runtime.
      metrics.end(this.config.retentionOnly ? undefined : await this.lastGoodAt(ctx, covered));
    }
  }

  /**
   * When the oldest of the covered databases' newest good backups was finished (see
   * `lastGoodBackup`), logged; undefined, with the reason logged, when some database has none
   * or the catalogue cannot be read (without retention the task role may not list or read).
   */
  private async lastGoodAt(
    ctx: JobContext<DatabaseBackupConfig>,
    covered: CoveredDatabases,
  ): Promise<number | undefined> {
    const { config } = this;
    if (ctx.signal.aborted) {
      ctx.log.info('last good backup not looked up: the run was aborted');
      return undefined;
    }
    try {
      const found = await lastGoodBackup(ctx.transfer, {
        bucket: config.output.bucket,
        prefix: config.output.prefix,
        keyTemplate: config.keyTemplate,
        engine: config.engine,
        databases: covered.names,
        exclude: config.excludeDatabase,
        made: covered.made,
        signal: ctx.signal,
        log: ctx.log,
      });
      if (found.missing !== undefined) {
        ctx.log.warn(
          { databases: found.missing },
          'no good backup of some database: LastGoodBackupAgeSeconds left out',
        );
        return undefined;
      }
      ctx.log.info(
        {
          database: found.database,
          finishedAt: new Date(found.at).toISOString(),
          ageSeconds: Math.max(0, Date.now() - found.at) / 1000,
        },
        'last good backup',
      );
      return found.at;
    } catch (err) {
      ctx.log.warn({ err }, 'cannot read the backup catalogue: LastGoodBackupAgeSeconds left out');
      return undefined;
    }
  }
}

/** The databases a run covers, for `LastGoodBackupAgeSeconds`, and the backups it made. */
interface CoveredDatabases {
  /** Undefined until `--all-databases` has listed the server's. */
  names: string[] | undefined;
  /** When each of this run's backups was finished (epoch ms), by database. */
  made: Map<string, number>;
}

/** The state of one `run()`. */
class BackupRun {
  private readonly config: DatabaseBackupConfig;
  private readonly counts = { done: 0, skipped: 0, failed: 0 };
  private bytesIn = 0;
  private bytesOut = 0;
  /** The compressor's dead output buffers, kept under a bound (see BufferGarbageLimit). */
  private readonly garbage = new BufferGarbageLimit();

  constructor(
    private readonly job: DatabaseBackupJob,
    private readonly ctx: JobContext<DatabaseBackupConfig>,
    private readonly engine: DatabaseEngine,
    private readonly connection: Connection,
    private readonly secrets: SecretDir,
    private readonly metrics: BackupMetrics,
    private readonly covered: CoveredDatabases,
  ) {
    this.config = job.config;
  }

  async run(): Promise<JobResult> {
    const { config, ctx, engine } = this;
    ctx.log.info(
      {
        ...describeConnection(this.connection),
        output: `s3://${config.output.bucket}/${config.output.prefix}`,
        databases: config.allDatabases ? 'all' : config.database,
        compression: config.compression,
        encrypted: config.recipient.length > 0 || config.recipientsFile !== undefined,
      },
      'db-backup starting',
    );
    if (config.retentionOnly) {
      await this.retention(config.allDatabases ? undefined : config.database);
      return this.result();
    }
    const recipients = await loadRecipients(config.recipient, config.recipientsFile);
    const server = await engine.serverVersion(config.database[0], ctx.signal);
    const tools = await engine.chooseClient(server, ctx.signal);
    ctx.log.info(
      { serverVersion: server.text, clientVersion: tools.version.text, dumpTool: tools.dump },
      'database client chosen',
    );
    if (server.flavor === 'postgres' && tools.version.major > server.major) {
      // Its archives need a pg_restore of that major, and pg_restore 17+ sets
      // transaction_timeout, which older servers refuse: restores go into a newer server.
      ctx.log.warn(
        { serverVersion: server.text, clientVersion: tools.version.text },
        'dump client is newer than the server',
      );
    }
    if (tools.version.flavor !== server.flavor) {
      ctx.log.warn(
        { serverVersion: server.text, clientVersion: tools.version.text },
        'dump client and server are of different flavors',
      );
    }
    const targets = await this.targets(tools);
    ctx.progress.addTotal(targets.length, 0);
    // Beside the first dump, not before it: the sweep only aborts uploads older than
    // --sweep-age, never this run's, and its requests would otherwise delay the dump's start.
    const swept = this.sweep();
    swept.catch(() => {});

    const succeeded: string[] = [];
    for (const target of targets) {
      if (ctx.stopSignal.aborted || ctx.signal.aborted) break;
      try {
        await this.backupOne(target, server, tools, recipients);
        this.counts.done++;
        ctx.progress.objectDone('done');
        succeeded.push(target.name);
      } catch (err) {
        if (ctx.signal.aborted) throw new InterruptedError('stopped during a dump', { cause: err });
        this.counts.failed++;
        ctx.progress.objectDone('failed');
        ctx.log.error({ err, database: target.name }, 'database backup failed');
      }
    }
    await swept;
    const interrupted = this.counts.done + this.counts.failed < targets.length;
    if (this.job.retentionEnabled && succeeded.length > 0) await this.retention(succeeded);
    return this.result(interrupted);
  }

  private result(interrupted = false): JobResult {
    const result: JobResult = {
      objects: { ...this.counts },
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
    };
    if (interrupted) result.interrupted = true;
    this.ctx.log.info({ ...result }, 'db-backup finished');
    return result;
  }

  /** The dumps of this run: globals first, then each database. */
  private async targets(tools: ClientTools): Promise<BackupTarget[]> {
    const { config, engine, ctx } = this;
    let names = config.database;
    if (config.allDatabases) {
      names = await engine.listDatabases(tools, ctx.signal);
      ctx.log.info({ databases: names }, 'databases listed');
    }
    names = names.filter((n) => !config.excludeDatabase.includes(n));
    const targets: BackupTarget[] = [];
    if (config.globals) {
      const plan = engine.globalsPlan(tools);
      if (plan !== undefined) targets.push({ name: GLOBALS_NAME, plan });
    }
    for (const name of names)
      targets.push({ name, plan: engine.dumpPlan(tools, name, config.format) });
    this.covered.names = names;
    if (targets.length === 0) {
      throw new S3WorkerError('no database to back up', {
        code: 'NO_DATABASES',
        exitCode: ExitCode.Config,
        hint: 'check --database, --all-databases and --exclude-database',
      });
    }
    return targets;
  }

  /** Dump → guard → compress → encrypt → hash → upload, then the manifest. */
  private async backupOne(
    target: BackupTarget,
    server: DbVersion,
    tools: ClientTools,
    recipients: readonly string[],
  ): Promise<void> {
    const { config, ctx, engine } = this;
    const { plan } = target;
    const startedAt = new Date();
    const encrypted = recipients.length > 0;
    const ext = `${plan.extension}${codecExtension(config.compression)}${encrypted ? AGE_EXTENSION : ''}`;
    const key = renderBackupKey(config.output.prefix, config.keyTemplate, {
      engine: engine.name,
      database: target.name,
      startedAt,
      ext,
    });
    const { bucket } = config.output;
    const log = ctx.log.child({ database: target.name, bucket, key });
    log.info({ tool: plan.command.tool }, 'dump starting');

    const output = await this.openToolOutput(log);
    const tool = startTool(plan.command, {
      ...(output ? { stdout: output } : {}),
      signal: ctx.signal,
      secrets: engine.secrets(),
    });
    const guard = new DumpGuard({
      plan,
      exited: tool.exited,
      stderr: tool.stderrTail,
      minBytes: config.minDumpBytes,
      onBytes: (n) => {
        this.bytesIn += n;
        this.metrics.dumpBytes += n;
        ctx.progress.addBytesIn(n);
      },
    });
    const meter = new Sha256Meter({
      onBytes: (n) => {
        this.bytesOut += n;
        ctx.progress.addBytesOut(n);
      },
    });
    // The first stage copies each piece of the dump (into a compressor's block), so the tool's
    // output is read into one reused buffer (see ToolOutput).
    const first =
      compressStage(config.compression, {
        level: config.compressionLevel,
        // The compressor's blocks in flight count in the run's budget, with the upload's parts.
        budget: ctx.transfer.budget,
      }) ?? copyStage();
    const stages: Duplex[] = [first];
    if (encrypted) stages.push(ageEncryptStage(recipients));
    stages.push(meter);
    let chainError: Error | undefined;
    const chainDone = new Promise<void>((resolve) => {
      pipeline(stages, (err) => {
        chainError = err ?? undefined;
        resolve();
      });
    });
    // The end of the dump passes on only once the guard has seen the tool exit 0 with a
    // complete dump; otherwise the chain fails and the upload is aborted.
    const observe = (piece: Buffer) => {
      guard.observe(piece);
      this.garbage.add(piece.length);
    };
    (output ? output.pumpTo(first, observe) : pumpInto(tool.stdout!, first, { onChunk: observe }))
      .then(() => guard.verdict())
      .then(
        () => first.end(),
        (err: unknown) => first.destroy(err as Error),
      );

    let uploaded: UploadResult;
    const dumpStarted = performance.now();
    try {
      uploaded = await this.ctx.transfer.upload({
        bucket,
        key,
        body: meter,
        signal: ctx.signal,
        ifNoneMatch: true,
        contentType: contentTypeOf(plan, config.compression, encrypted),
        ...this.writeOptions(),
      });
      await chainDone;
      if (chainError !== undefined) throw chainError;
    } catch (err) {
      tool.kill();
      output?.destroy();
      meter.destroy();
      await chainDone;
      this.metrics.dumped(performance.now() - dumpStarted);
      // The guard's error (the tool's own words) says more than "the body failed".
      throw chainError instanceof S3WorkerError ? chainError : err;
    }
    this.metrics.dumped(performance.now() - dumpStarted);
    this.metrics.storedBytes += meter.bytes;
    const exit = await tool.exited;
    if (exit.code !== 0) throw new Error(`unreachable: ${plan.command.tool} exited ${exit.code}`);

    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      engine: engine.name,
      database: target.name,
      kind: plan.kind,
      dumpFormat: plan.format,
      bucket,
      key,
      serverVersion: server.text,
      serverMajor: server.major,
      dumpTool: plan.command.tool,
      dumpToolVersion: tools.version.text,
      dumpToolMajor: tools.version.major,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      rawBytes: guard.bytes,
      storedBytes: meter.bytes,
      sha256: meter.digest,
      compression: config.compression,
      encryption: encrypted ? { type: 'age', recipients: [...recipients] } : null,
      etag: uploaded.etag,
      ...(uploaded.versionId !== undefined ? { versionId: uploaded.versionId } : {}),
      s3workerVersion: s3workerVersion(),
      runId: ctx.runId,
    };
    const task = manifestTask(ctx.task);
    if (task !== undefined) manifest.task = task;
    await this.ctx.transfer.putObject({
      bucket,
      key: manifestKeyOf(key),
      body: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`),
      signal: ctx.signal,
      ifNoneMatch: true,
      contentType: 'application/json',
      ...this.writeOptions(),
    });
    if (target.plan.kind === 'database') {
      this.covered.made.set(target.name, Date.parse(manifest.finishedAt));
    }
    log.info(
      {
        rawBytes: manifest.rawBytes,
        storedBytes: manifest.storedBytes,
        parts: uploaded.parts,
        sha256: manifest.sha256,
        seconds: (Date.parse(manifest.finishedAt) - startedAt.getTime()) / 1000,
      },
      'backup written',
    );
  }

  /**
   * The dump tool's stdout read into one reused buffer (see ToolOutput), or undefined where the
   * socket pair cannot be made (a temporary folder too deep for a socket path, a file system
   * without sockets): the dump then goes through a pipe, with a fresh buffer per read (more
   * memory, the same bytes).
   */
  private async openToolOutput(log: Logger): Promise<ToolOutput | undefined> {
    try {
      return await ToolOutput.open(this.secrets.path);
    } catch (err) {
      log.warn({ err }, 'reading the dump through a pipe instead of a reused buffer');
      return undefined;
    }
  }

  /** Write options of the backup and its manifest, with the user metadata naming the ECS task. */
  private writeOptions() {
    const options = objectWriteOptions(this.config);
    return { ...options, metadata: { ...options.metadata, ...taskObjectMetadata(this.ctx.task) } };
  }

  /** Aborts what a killed task left under the prefix; a failure here only warns. */
  private async sweep(): Promise<void> {
    const { config, ctx } = this;
    await sweepStaleUploads(ctx.transfer, {
      output: config.output,
      olderThan: config.sweepAge,
      log: ctx.log,
      signal: ctx.signal,
    });
  }

  /**
   * Retention for `databases` (raw names or GLOBALS_NAME); undefined: every database found
   * under the prefix for this engine. Also deletes their backup objects that have no manifest
   * and are older than --sweep-age (see `OrphanObject`).
   */
  private async retention(databases: readonly string[] | undefined): Promise<void> {
    const { config, ctx, engine } = this;
    const groups = new Map<string, CatalogEntry[]>();
    const orphans = new Map<string, OrphanObject>();
    const { bucket, prefix } = config.output;
    const { keyTemplate } = config;
    for (const name of databases ?? [undefined]) {
      const catalog = await listCatalog(ctx.transfer, {
        bucket,
        prefix: backupListPrefix(prefix, keyTemplate, engine.name, name),
        engine: engine.name,
        ...(name !== undefined ? { database: name } : {}),
        backupKeys: backupKeyPattern(prefix, keyTemplate, engine.name, name),
        signal: ctx.signal,
        log: ctx.log,
      });
      for (const o of catalog.orphans) orphans.set(o.key, o);
      for (const e of catalog.entries) {
        const group = groups.get(e.manifest.database) ?? [];
        group.push(e);
        groups.set(e.manifest.database, group);
      }
    }
    const now = new Date();
    const policy = {
      ...(config.keepLast !== undefined ? { keepLast: config.keepLast } : {}),
      ...(config.keepDays !== undefined ? { keepDays: config.keepDays } : {}),
    };
    for (const [database, entries] of groups) {
      const plan = planRetention(entries, policy, now);
      ctx.log.info(
        {
          database,
          backups: entries.length,
          keep: plan.keep.length,
          remove: plan.remove.length,
          dryRun: config.dryRun,
        },
        'retention planned',
      );
      await applyRetention(ctx.transfer, plan, {
        dryRun: config.dryRun,
        log: ctx.log,
        signal: ctx.signal,
      });
    }
    const stale = staleOrphans([...orphans.values()], config.sweepAge, now);
    if (orphans.size > stale.length) {
      ctx.log.info(
        { kept: orphans.size - stale.length, sweepAge: config.sweepAge },
        'backup objects without a manifest kept until older than --sweep-age',
      );
    }
    await deleteOrphans(ctx.transfer, stale, {
      dryRun: config.dryRun,
      log: ctx.log,
      signal: ctx.signal,
    });
  }
}

/** Content-Type of a stored backup. */
function contentTypeOf(plan: DumpPlan, codec: Codec, encrypted: boolean): string {
  if (encrypted) return 'application/octet-stream';
  return (
    codecContentType(codec) ??
    (plan.format === 'plain' ? 'application/sql' : 'application/octet-stream')
  );
}
