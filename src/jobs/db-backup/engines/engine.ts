import type { EngineName } from '../connection-options.js';
import type { ToolCommand } from '../tool-process.js';
import type { DbVersion } from '../version-match.js';

/** The client tools chosen for one server. */
export interface ClientTools {
  version: DbVersion;
  /** Dump tool (pg_dump / mysqldump). */
  dump: string;
  /** Tool for the cluster-wide globals (pg_dumpall), PostgreSQL only. */
  dumpGlobals?: string;
  /** Archive restore tool (pg_restore), PostgreSQL only. */
  restoreArchive?: string;
  /** SQL client (psql / mysql): queries and plain-SQL restores. */
  sql: string;
}

/** What a backup holds: one database, or PostgreSQL's roles and tablespaces. */
export type BackupKind = 'database' | 'globals';

/** The dump formats: PostgreSQL custom archive, plain SQL (both engines). */
export type DumpFormat = 'custom' | 'plain';

/** One dump to run. */
export interface DumpPlan {
  command: ToolCommand;
  kind: BackupKind;
  format: DumpFormat;
  /** File extension before compression (`dump`, `sql`). */
  extension: string;
  /** Checks the raw dump looks complete (first and last bytes); a message when it does not. */
  completeness(head: Buffer, tail: Buffer): string | undefined;
}

/** Restore options the engines understand. */
export interface RestoreOptions {
  /** Drop objects before recreating them (pg_restore --clean --if-exists). */
  clean: boolean;
  /** Skip ownership (pg_restore --no-owner). */
  noOwner: boolean;
}

/**
 * One database engine as the backup and restore jobs drive it: version probing, client choice,
 * listing, and the tool commands. Implementations hold the connection and its secret files.
 */
export interface DatabaseEngine {
  readonly name: EngineName;
  /** Connects (to `database`, or the engine's maintenance database) and reads the server's version. */
  serverVersion(database: string | undefined, signal: AbortSignal): Promise<DbVersion>;
  /**
   * The client tools for this server, of major `minMajor` or newer when given (a restore needs
   * a pg_restore at least as new as the pg_dump that wrote the archive).
   * @throws S3WorkerError `DB_VERSION_MISMATCH` naming the server and the clients found, when
   *   no installed client may dump it.
   */
  chooseClient(server: DbVersion, signal: AbortSignal, minMajor?: number): Promise<ClientTools>;
  /** The databases a `--all-databases` run backs up (system ones left out). */
  listDatabases(tools: ClientTools, signal: AbortSignal): Promise<string[]>;
  /** The dump of one database in `format`. */
  dumpPlan(tools: ClientTools, database: string, format: DumpFormat): DumpPlan;
  /** The dump of the cluster's globals (roles, tablespaces); undefined when the engine has none. */
  globalsPlan(tools: ClientTools): DumpPlan | undefined;
  /** The command that reads a dump of `format` on stdin and applies it to `database`. */
  restoreCommand(
    tools: ClientTools,
    database: string,
    format: DumpFormat,
    kind: BackupKind,
    options: RestoreOptions,
  ): ToolCommand;
  databaseExists(tools: ClientTools, database: string, signal: AbortSignal): Promise<boolean>;
  createDatabase(tools: ClientTools, database: string, signal: AbortSignal): Promise<void>;
  /** Strings to mask in any tool output that reaches a message (the password). */
  secrets(): string[];
}

/** Database names must be text a server can hold: no NUL, not empty, at most 255 bytes. */
export function databaseNameProblem(name: string): string | undefined {
  if (name === '') return 'a database name is empty';
  if (name.includes('\0')) return 'a database name contains a NUL character';
  if (Buffer.byteLength(name, 'utf8') > 255) return 'a database name is longer than 255 bytes';
  return undefined;
}
