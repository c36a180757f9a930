import { type Duplex, PassThrough, pipeline, type Readable, Writable } from 'node:stream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import type { TransferSettings } from '../../config/transfer-options.js';
import { ConfigError, ExitCode, S3WorkerError } from '../../errors.js';
import { explainS3Error } from '../../s3/explain-error.js';
import { useNativeCrc32 } from '../../transfer/crc32.js';
import { ageDecryptStage, loadIdentities } from '../db-backup/age-encryption.js';
import { type CatalogEntry, listBackups, readSmall } from '../db-backup/backup-catalog.js';
import { backupListPrefix, GLOBALS_NAME } from '../db-backup/backup-key.js';
import { type Connection, describeConnection, resolveConnection } from '../db-backup/connection.js';
import { createEngine } from '../db-backup/engines/create-engine.js';
import type { DatabaseEngine } from '../db-backup/engines/engine.js';
import { manifestKeyOf, parseManifest } from '../db-backup/manifest.js';
import { SecretDir } from '../db-backup/secret-dir.js';
import { Sha256Meter } from '../db-backup/sha256-meter.js';
import { maskSecrets, startTool, toolFailed } from '../db-backup/tool-process.js';
import { pgRestoreProblem } from '../db-backup/version-match.js';
import { Job, type JobContext, type JobResult } from '../job.js';
import { BufferGarbageLimit } from '../kit/buffer-garbage-limit.js';
import { decompressStage } from '../kit/compression.js';
import { pumpInto } from '../kit/pump-into.js';
import type { Permission } from '../permissions.js';
import {
  type DatabaseRestoreConfig,
  databaseRestoreConfigSchema,
  restoreConfigProblems,
} from './config.js';
import { GlobalsErrors } from './globals-errors.js';
import { RestoreMetrics } from './restore-metrics.js';

/**
 * The db-restore job: picks a backup that has a manifest (the newest, the newest at or before
 * `--at`, or an explicit `--key`), verifies it completely in a first streaming pass (SHA-256
 * of the stored bytes against the manifest, decryption, decompression, raw size) without
 * touching the database, and only then streams it a second time (pinned to the same ETag)
 * through decryption and decompression into pg_restore / psql / mysql. A corrupted or
 * undecryptable backup is refused before the target is touched.
 */
export class DatabaseRestoreJob extends Job<DatabaseRestoreConfig> {
  static override readonly jobName: string = 'db-restore';
  static override readonly description: string =
    'Restore a PostgreSQL or MySQL/MariaDB backup made by db-backup: chosen by time or key, verified before it is applied';
  static override readonly configSchema = databaseRestoreConfigSchema;

  /** Bytes of the backup read so far, both passes: each was taken by the check or the database. */
  #bytesRead = 0;

  constructor(config: DatabaseRestoreConfig) {
    super(config);
    const issues = restoreConfigProblems(config);
    if (issues.length > 0) throw new ConfigError(issues);
  }

  /** Read-only: list and read backups and manifests under the input prefix; never write. */
  permissions(): Permission[] {
    const { bucket, prefix } = this.config.input;
    return [
      { action: 's3:ListBucket', bucket, prefix, reason: 'find backups and their manifests' },
      { action: 's3:GetObject', bucket, prefix, reason: 'read manifests and backups' },
    ];
  }

  /** One download at a time (ranged when large), plus the listing and manifests. */
  override maxSockets(transfer: TransferSettings): number {
    return transfer.rangeConcurrency + 4;
  }

  /** Where connection variables and the age identity are read. Default `process.env`. */
  protected environment(): NodeJS.ProcessEnv {
    return process.env;
  }

  /** The engine for this config; override to drive another one. */
  protected createEngine(connection: Connection, secrets: SecretDir): Promise<DatabaseEngine> {
    return createEngine(this.config, connection, secrets, this.environment());
  }

  async run(ctx: JobContext<DatabaseRestoreConfig>): Promise<JobResult> {
    // Gigabytes go through CRC32 here: the faster one is worth its memory (see useNativeCrc32).
    useNativeCrc32();
    const { config } = this;
    const metrics = new RestoreMetrics();
    metrics.report(ctx.progress);
    const entry = await this.chooseBackup(ctx);
    const m = entry.manifest;
    const log = ctx.log.child({ bucket: entry.bucket, key: entry.key });
    log.info(
      {
        database: m.database,
        startedAt: m.startedAt,
        storedBytes: m.storedBytes,
        encrypted: m.encryption !== null,
        target: config.database,
      },
      'backup chosen',
    );
    const etag = await this.checkObject(ctx, entry);
    const identities =
      m.encryption === null
        ? []
        : await loadIdentities(config.identityFile, config.identityEnv, this.environment());
    ctx.progress.addTotal(1, m.storedBytes * (config.verifyOnly ? 1 : 2));
    // The health check: every stage waits for the next (the hash, the restore tool), so a byte
    // read is a byte taken, and reading stops when S3 or the database does.
    ctx.progress.addHealthSignals?.({ settled: () => this.#bytesRead });

    // The decoder's dead output buffers, kept under a bound (see BufferGarbageLimit): 32 MiB,
    // not the 8 of the backup, because every decoded byte is a new buffer here and each full
    // collection costs more than it does there. Measured restoring a 204 MB dump: peak RSS
    // 160-172 MiB against 184-194, 12% more CPU in the same time (pg_restore is the bound);
    // with 8 MiB 140-148 MiB but twice the CPU.
    const garbage = new BufferGarbageLimit({
      slack: 32 * 1024 * 1024,
      checkEvery: 8 * 1024 * 1024,
    });
    // Pass 1: everything a restore needs, checked before the database is touched.
    const started = performance.now();
    const verified = await this.verify(ctx, entry, etag, identities, garbage);
    metrics.verifiedBytes += m.storedBytes;
    log.info({ sha256: m.sha256, rawBytes: verified.rawBytes }, 'backup verified');
    if (config.verifyOnly) {
      ctx.progress.objectDone('done');
      return { objects: { done: 1, skipped: 0, failed: 0 }, bytesIn: m.storedBytes, bytesOut: 0 };
    }

    const secrets = await SecretDir.create(ctx.tmpDir);
    try {
      const connection = await resolveConnection(config, this.environment());
      ctx.log.info(describeConnection(connection), 'connecting to the database');
      const engine = await this.createEngine(connection, secrets);
      const server = await engine.serverVersion(undefined, ctx.signal);
      const tools = await engine.chooseClient(server, ctx.signal, m.dumpToolMajor);
      log.info(
        {
          serverVersion: server.text,
          clientVersion: tools.version.text,
          dumpToolVersion: m.dumpToolVersion,
        },
        'database client chosen',
      );
      const versionProblem =
        engine.name === 'postgres' && m.kind === 'database'
          ? pgRestoreProblem(server, m.dumpFormat, m.dumpToolMajor, tools.version.major)
          : undefined;
      if (versionProblem !== undefined) {
        // Refused before the target is created or touched: the tool would fail at its first line.
        throw new S3WorkerError(versionProblem, {
          code: 'DB_VERSION_MISMATCH',
          exitCode: ExitCode.Config,
          context: {
            serverVersion: server.text,
            dumpToolVersion: m.dumpToolVersion,
            clientVersion: tools.version.text,
          },
          hint: `restore it into a PostgreSQL 17 or newer server; into this one only by hand: ${m.dumpFormat === 'custom' ? 'write the script with pg_restore -f -, ' : ''}delete the SET transaction_timeout line near its top and apply it with psql. Back up a server before 17 with a client of its own major (the image has 15) so that its backups restore into it`,
        });
      }
      if (m.kind === 'database') await this.ensureTarget(ctx, engine, tools);

      // Pass 2: the same bytes (If-Match the verified ETag) into the restore tool.
      const command = engine.restoreCommand(tools, config.database, m.dumpFormat, m.kind, {
        clean: config.clean,
        noOwner: config.noOwner,
      });
      log.info({ tool: command.tool, target: config.database }, 'restore starting');
      const globals = m.kind === 'globals' ? new GlobalsErrors() : undefined;
      const tool = startTool(command, {
        stdin: true,
        signal: ctx.signal,
        secrets: engine.secrets(),
        ...(globals !== undefined ? { stderrLine: (line: string) => globals.line(line) } : {}),
      });
      tool.stdout?.resume();
      const source = ctx.transfer.download({
        bucket: entry.bucket,
        key: entry.key,
        size: m.storedBytes,
        etag,
        signal: ctx.signal,
      });
      const meter = new Sha256Meter({
        verify: (hex, bytes) =>
          hex === m.sha256 && bytes === m.storedBytes ? undefined : corrupt(entry, hex, bytes),
        onBytes: (n) => this.#read(ctx, n),
      });
      const feed = new PassThrough();
      const stages = this.decodeStages(ctx, entry, identities);
      const chain = new Promise<void>((resolve, reject) => {
        pipeline([source, meter, ...stages, feed], (err) => (err ? reject(err) : resolve()));
      });
      chain.catch(() => {});
      try {
        await pumpInto(feed, tool.stdin!, {
          onChunk: (chunk) => garbage.add(chunk.length),
          closedEarly: 'the restore tool closed its input early',
        });
        await chain;
        tool.stdin!.end();
      } catch (err) {
        // A tool that stopped reading because it failed (EPIPE here) says why on stderr.
        const died = tool.child.exitCode !== null && tool.child.exitCode !== 0;
        // Kill first, close stdin after: psql commits its transaction at the end of its input,
        // so a failed stream must never look like one that ended.
        tool.child.kill('SIGKILL');
        const exit = await tool.exited;
        tool.stdin!.destroy();
        source.destroy();
        if (died || (err as NodeJS.ErrnoException).code === 'EPIPE') {
          throw toolFailed(command.tool, exit, tool.stderrTail());
        }
        throw err;
      }
      const exit = await tool.exited;
      if (exit.code !== 0) throw toolFailed(command.tool, exit, tool.stderrTail());
      if (globals !== undefined) this.judgeGlobals(globals, log, engine.secrets());
      metrics.restored(performance.now() - started);
      log.info({ target: config.database, rawBytes: verified.rawBytes }, 'restore finished');
      ctx.progress.objectDone('done');
      return {
        objects: { done: 1, skipped: 0, failed: 0 },
        bytesIn: m.storedBytes * 2,
        bytesOut: verified.rawBytes,
      };
    } finally {
      await secrets.dispose();
    }
  }

  /**
   * Logs each failed statement of a globals restore (its first words, SQLSTATE and message,
   * never a literal) and fails the restore when any failed, unless --ignore-globals-errors.
   * What succeeded stays applied: a globals script cannot run in one transaction (CREATE
   * TABLESPACE refuses to), and a second run is safe (roles that exist are altered, not created).
   */
  private judgeGlobals(globals: GlobalsErrors, log: Logger, secrets: readonly string[]): void {
    globals.finish();
    const ignore = this.config.ignoreGlobalsErrors;
    if (globals.existing > 0) {
      log.info({ roles: globals.existing }, 'globals: roles that exist already were altered');
    }
    for (const f of globals.failures) {
      const fields = {
        statement: f.statement,
        sqlstate: f.sqlstate,
        error: maskSecrets(f.error, secrets),
      };
      if (ignore) log.warn(fields, 'globals statement failed');
      else log.error(fields, 'globals statement failed');
    }
    if (globals.failed === 0) return;
    const first = globals.failures[0]!;
    if (ignore) {
      log.warn({ failed: globals.failed }, 'globals applied past errors (--ignore-globals-errors)');
      return;
    }
    throw new S3WorkerError(
      `${globals.failed} statement(s) of the globals script failed (the first: ${first.statement}: ${maskSecrets(first.error, secrets)}); the others were applied`,
      {
        code: 'GLOBALS_FAILED',
        exitCode: ExitCode.ObjectsFailed,
        context: { failed: globals.failed, database: this.config.database },
        hint: 'see each "globals statement failed" line; globals need a superuser on the target. Fix the cause and run the restore again, or pass --ignore-globals-errors to accept a partial restore',
      },
    );
  }

  /** Counts bytes read from the backup, for the progress lines and the health check. */
  #read(ctx: JobContext<DatabaseRestoreConfig>, bytes: number): void {
    this.#bytesRead += bytes;
    ctx.progress.addBytesIn(bytes);
  }

  /** The backup to restore: by key, or the newest (at or before --at) with a manifest. */
  private async chooseBackup(ctx: JobContext<DatabaseRestoreConfig>): Promise<CatalogEntry> {
    const { config } = this;
    const { bucket, prefix } = config.input;
    if (config.key !== undefined) {
      const manifestKey = manifestKeyOf(config.key);
      let body: Buffer;
      try {
        body = await readSmall(ctx.transfer, bucket, manifestKey, ctx.signal);
      } catch (err) {
        if (
          err instanceof S3WorkerError &&
          /NoSuchKey|not found|does not exist/i.test(err.message)
        ) {
          throw noManifest(bucket, config.key);
        }
        throw err;
      }
      const parsed = parseManifest(body);
      if (parsed.manifest === undefined || parsed.manifest.key !== config.key)
        throw noManifest(bucket, config.key);
      if (parsed.manifest.engine !== config.engine) {
        throw new S3WorkerError(
          `s3://${bucket}/${config.key} is a ${parsed.manifest.engine} backup, not ${config.engine}`,
          { code: 'NO_BACKUP', exitCode: ExitCode.Config, context: { bucket, key: config.key } },
        );
      }
      return { bucket, key: config.key, manifestKey, manifest: parsed.manifest };
    }
    const from = config.fromDatabase ?? config.database;
    const entries = await listBackups(ctx.transfer, {
      bucket,
      prefix: backupListPrefix(prefix, config.keyTemplate, config.engine, from),
      engine: config.engine,
      database: from,
      ...(from === GLOBALS_NAME ? { kind: 'globals' as const } : { kind: 'database' as const }),
      signal: ctx.signal,
      log: ctx.log,
    });
    const at = config.at;
    const usable =
      at === undefined
        ? entries
        : entries.filter((e) => Date.parse(e.manifest.startedAt) <= at.getTime());
    const chosen = usable.at(-1);
    if (chosen === undefined) {
      const what = at === undefined ? '' : ` started at or before ${at.toISOString()}`;
      throw new S3WorkerError(
        `no ${config.engine} backup of database ${JSON.stringify(from)}${what} with a manifest under s3://${bucket}/${prefix} (${entries.length} backup(s) in all)`,
        {
          code: 'NO_BACKUP',
          exitCode: ExitCode.ObjectsFailed,
          context: { bucket, prefix, database: from },
          hint:
            entries.length > 0
              ? `the oldest is from ${entries[0]!.manifest.startedAt}; pick a later --at`
              : 'check --input, --engine, --from-database and --key-template (they must match the backup job)',
        },
      );
    }
    return chosen;
  }

  /** HEAD the backup: it must be there with the manifest's size. Returns its ETag. */
  private async checkObject(
    ctx: JobContext<DatabaseRestoreConfig>,
    entry: CatalogEntry,
  ): Promise<string> {
    let head: { ContentLength?: number | undefined; ETag?: string | undefined };
    try {
      head = await ctx.transfer.send(
        new HeadObjectCommand({ Bucket: entry.bucket, Key: entry.key }),
        {
          abortSignal: ctx.signal,
        },
      );
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      throw explainS3Error(err, { action: 'HeadObject', bucket: entry.bucket, key: entry.key });
    }
    if (head.ContentLength !== entry.manifest.storedBytes) {
      throw corrupt(entry, undefined, head.ContentLength ?? -1);
    }
    return head.ETag ?? entry.manifest.etag;
  }

  /** Decryption and decompression stages for this backup. */
  private decodeStages(
    ctx: JobContext<DatabaseRestoreConfig>,
    entry: CatalogEntry,
    identities: readonly string[],
  ): Duplex[] {
    const stages: Duplex[] = [];
    if (entry.manifest.encryption !== null) stages.push(ageDecryptStage(identities));
    const decompress = decompressStage(entry.manifest.compression, { budget: ctx.transfer.budget });
    if (decompress) stages.push(decompress);
    return stages;
  }

  /** Pass 1: download, hash, decrypt, decompress and count, applying nothing. */
  private async verify(
    ctx: JobContext<DatabaseRestoreConfig>,
    entry: CatalogEntry,
    etag: string,
    identities: readonly string[],
    garbage: BufferGarbageLimit,
  ): Promise<{ rawBytes: number }> {
    const m = entry.manifest;
    const source = ctx.transfer.download({
      bucket: entry.bucket,
      key: entry.key,
      size: m.storedBytes,
      etag,
      signal: ctx.signal,
    });
    let sourceError: unknown;
    source.once('error', (err) => {
      sourceError = err;
    });
    const meter = new Sha256Meter({ onBytes: (n) => this.#read(ctx, n) });
    let rawBytes = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, callback) {
        rawBytes += chunk.length;
        garbage.add(chunk.length);
        callback();
      },
    });
    let stageError: unknown;
    await new Promise<void>((resolve) => {
      pipeline(
        [source as Readable, meter, ...this.decodeStages(ctx, entry, identities), sink],
        (err) => {
          stageError = err ?? undefined;
          resolve();
        },
      );
    });
    if (stageError !== undefined) {
      // A download that failed, or an identity that matches no recipient, is explained
      // already; anything else a stage says (zstd, gzip, an age chunk failing authentication)
      // means the stored bytes do not decode.
      if (ctx.signal.aborted || stageError === sourceError) throw stageError;
      if (stageError instanceof S3WorkerError && stageError.code === 'DECRYPT_FAILED') {
        throw stageError;
      }
      throw corrupt(entry, undefined, m.storedBytes, stageError);
    }
    if (meter.bytes !== m.storedBytes || meter.digest !== m.sha256) {
      throw corrupt(entry, meter.digest, meter.bytes);
    }
    if (rawBytes !== m.rawBytes) {
      throw new S3WorkerError(
        `s3://${entry.bucket}/${entry.key} decodes to ${rawBytes} bytes, the manifest says ${m.rawBytes}`,
        {
          code: 'BACKUP_CORRUPT',
          exitCode: ExitCode.ObjectsFailed,
          context: { bucket: entry.bucket, key: entry.key },
          hint: 'the backup does not match its manifest; restore an older one (--at or --key)',
        },
      );
    }
    return { rawBytes };
  }

  /** The target database exists, or is created when --create-database says so. */
  private async ensureTarget(
    ctx: JobContext<DatabaseRestoreConfig>,
    engine: DatabaseEngine,
    tools: Awaited<ReturnType<DatabaseEngine['chooseClient']>>,
  ): Promise<void> {
    const { config } = this;
    if (await engine.databaseExists(tools, config.database, ctx.signal)) return;
    if (!config.createDatabase) {
      throw new S3WorkerError(
        `the target database ${JSON.stringify(config.database)} does not exist`,
        {
          code: 'NO_TARGET_DATABASE',
          exitCode: ExitCode.Config,
          context: { database: config.database },
          hint: 'create it, or pass --create-database',
        },
      );
    }
    await engine.createDatabase(tools, config.database, ctx.signal);
    ctx.log.info({ database: config.database }, 'target database created');
  }
}

function corrupt(
  entry: CatalogEntry,
  sha256: string | undefined,
  bytes: number,
  cause?: unknown,
): S3WorkerError {
  const m = entry.manifest;
  const what =
    bytes !== m.storedBytes
      ? `is ${bytes} bytes, the manifest says ${m.storedBytes}`
      : sha256 !== undefined
        ? `has SHA-256 ${sha256}, the manifest says ${m.sha256}`
        : 'does not decode';
  return new S3WorkerError(`s3://${entry.bucket}/${entry.key} ${what}: refusing to restore it`, {
    code: 'BACKUP_CORRUPT',
    exitCode: ExitCode.ObjectsFailed,
    cause,
    context: { bucket: entry.bucket, key: entry.key },
    hint: 'the stored backup does not match its manifest and nothing was applied; restore an older one (--at or --key)',
  });
}

function noManifest(bucket: string, key: string): S3WorkerError {
  return new S3WorkerError(`s3://${bucket}/${key} has no manifest: it is not a complete backup`, {
    code: 'NO_BACKUP',
    exitCode: ExitCode.ObjectsFailed,
    context: { bucket, key },
    hint: 'only backups with a manifest are restored; give the key of the backup object itself (not the manifest), or choose by --at',
  });
}
