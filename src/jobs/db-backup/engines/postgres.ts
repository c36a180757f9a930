import { realpathSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ExitCode, S3WorkerError } from '../../../errors.js';
import type { Connection } from '../connection.js';
import type { SecretDir, SecretFile } from '../secret-dir.js';
import { runTool, type ToolCommand } from '../tool-process.js';
import {
  type ClientCandidate,
  choosePgClient,
  type DbVersion,
  parsePgServerVersion,
  parsePgToolVersion,
} from '../version-match.js';
import type {
  BackupKind,
  ClientTools,
  DatabaseEngine,
  DumpFormat,
  DumpPlan,
  RestoreOptions,
} from './engine.js';
import { baseToolEnv, findOnPath, isExecutable } from './local-tools.js';

/** Where Debian and Ubuntu install each PostgreSQL major's client tools. */
export const DEBIAN_PG_ROOT = '/usr/lib/postgresql';

/** Options of the PostgreSQL engine. */
export interface PostgresEngineOptions {
  /** Use only the tools in this folder. Default: every major under `DEBIAN_PG_ROOT`, and PATH. */
  pgBinDir?: string;
  /** Where to look for `<major>/bin` folders (default `/usr/lib/postgresql`). */
  pgRoot?: string;
  /** The process environment (PATH, HOME). */
  env?: NodeJS.ProcessEnv;
}

/**
 * `text` as a libpq connection-string value: single-quoted, with `\` and `'` escaped. Passing
 * `dbname='...'` keeps a database name such as `dbname=postgres host=elsewhere` from being read
 * as connection parameters (pg_dump and psql expand a `-d` value containing `=`).
 */
export function conninfoValue(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** `name` as an SQL identifier: double-quoted, inner quotes doubled. */
export function pgIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `text` as an SQL string literal (standard_conforming_strings is set on before use). */
export function pgLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** `text` escaped for a libpq password file field (`\` and `:`). */
function passfileField(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll(':', '\\:');
}

/**
 * PostgreSQL: `pg_dump` (custom archive or plain SQL), `pg_dumpall --globals-only`,
 * `pg_restore` / `psql` for restores. Host, port and user go to the tools as `PG*` variables
 * and the password through a 0600 passfile (`PGPASSFILE`; on Linux an unlinked file the tools
 * inherit, see `SecretFile`); a database name only ever appears as a quoted `dbname='...'` value.
 */
export class PostgresEngine implements DatabaseEngine {
  readonly name = 'postgres' as const;
  readonly #connection: Connection;
  readonly #options: PostgresEngineOptions;
  readonly #passfile: SecretFile | undefined;
  #found: Promise<ClientCandidate[]> | undefined;

  private constructor(
    connection: Connection,
    passfile: SecretFile | undefined,
    options: PostgresEngineOptions,
  ) {
    this.#connection = connection;
    this.#passfile = passfile;
    this.#options = options;
  }

  /** Writes the passfile (when there is a password) into `secrets`. */
  static async create(
    connection: Connection,
    secrets: SecretDir,
    options: PostgresEngineOptions = {},
  ): Promise<PostgresEngine> {
    let passfile: SecretFile | undefined =
      connection.passfile === undefined ? undefined : { path: connection.passfile, fd: undefined };
    if (connection.password !== undefined) {
      passfile = await secrets.write('pgpass', `*:*:*:*:${passfileField(connection.password)}\n`);
    }
    return new PostgresEngine(connection, passfile, options);
  }

  secrets(): string[] {
    return this.#connection.password === undefined ? [] : [this.#connection.password];
  }

  /** The environment of every tool: connection as PG* variables, the passfile, nothing else. */
  #env(): Record<string, string> {
    const c = this.#connection;
    const env: Record<string, string> = {
      ...baseToolEnv(this.#options.env),
      PGCONNECT_TIMEOUT: '15',
      PGAPPNAME: 's3worker',
      ...c.extraEnv,
    };
    if (c.host !== undefined) env.PGHOST = c.host;
    if (c.port !== undefined) env.PGPORT = String(c.port);
    if (c.user !== undefined) env.PGUSER = c.user;
    if (this.#passfile !== undefined) env.PGPASSFILE = this.#passfile.path;
    return env;
  }

  /** What a tool that connects gets: the environment, and the passfile's descriptor. */
  #connected(): Pick<ToolCommand, 'env' | 'secretFd'> {
    return { env: this.#env(), secretFd: this.#passfile?.fd };
  }

  #maintenanceDb(): string {
    return this.#connection.maintenanceDatabase ?? 'postgres';
  }

  /** psql with a script on the command line, unaligned, tuples only, stopping at the first error. */
  #psql(tools: Pick<ClientTools, 'sql'>, database: string, sql: string, zero = false): ToolCommand {
    return {
      tool: 'psql',
      command: tools.sql,
      args: [
        '-X',
        '-q',
        '-A',
        '-t',
        '--no-password',
        '-v',
        'ON_ERROR_STOP=1',
        ...(zero ? ['-0'] : []),
        // Two commands, not one string: a multi-statement string runs as one transaction, where
        // CREATE DATABASE is refused.
        '-c',
        'SET standard_conforming_strings = on',
        '-c',
        sql,
        `--dbname=dbname=${conninfoValue(database)}`,
      ],
      ...this.#connected(),
    };
  }

  async serverVersion(database: string | undefined, signal: AbortSignal): Promise<DbVersion> {
    const candidates = await this.#candidates(signal);
    // Any psql reads a version; the newest speaks every server's protocol.
    const newest = [...candidates].sort((a, b) => b.version.major - a.version.major)[0];
    if (newest === undefined) throw this.#noClient(undefined, candidates);
    const out = await runTool(
      this.#psql(
        { sql: join(newest.dir, 'psql') },
        database ?? this.#maintenanceDb(),
        "SELECT current_setting('server_version_num') || '|' || current_setting('server_version')",
      ),
      { signal, secrets: this.secrets() },
    );
    const [num = '', text = ''] = out.trim().split('|');
    return parsePgServerVersion(num, text);
  }

  async chooseClient(
    server: DbVersion,
    signal: AbortSignal,
    minMajor?: number,
  ): Promise<ClientTools> {
    const candidates = await this.#candidates(signal);
    const need = Math.max(server.major, minMajor ?? 0);
    const chosen = choosePgClient(candidates, need);
    if (chosen === undefined) throw this.#noClient(server, candidates, need);
    const { dir } = chosen;
    return {
      version: chosen.version,
      dump: join(dir, 'pg_dump'),
      dumpGlobals: join(dir, 'pg_dumpall'),
      restoreArchive: join(dir, 'pg_restore'),
      sql: join(dir, 'psql'),
    };
  }

  #noClient(
    server: DbVersion | undefined,
    candidates: ClientCandidate[],
    need = server?.major ?? 0,
  ): S3WorkerError {
    const found =
      candidates.length === 0
        ? 'no PostgreSQL client tools were found'
        : `clients found: ${candidates.map((c) => `${c.version.text} (${c.dir})`).join(', ')}`;
    const where =
      this.#options.pgBinDir ?? `${this.#options.pgRoot ?? DEBIAN_PG_ROOT}/<major>/bin and PATH`;
    return new S3WorkerError(
      server === undefined
        ? `no PostgreSQL client tools in ${where}`
        : `the PostgreSQL server is version ${server.text} (major ${server.major}) and no client of major ${need} or newer is installed${need > server.major ? ` (the backup was written by pg_dump ${need}, whose archive only pg_restore ${need} or newer reads)` : ''}; ${found}`,
      {
        code: 'DB_VERSION_MISMATCH',
        exitCode: ExitCode.Config,
        context: {
          serverVersion: server?.text,
          clients: candidates.map((c) => c.version.text),
        },
        hint: `install the PostgreSQL ${need} client tools (or newer) and point --pg-bin-dir at their bin folder; an older pg_dump cannot dump a newer server, an older pg_restore cannot read a newer archive`,
      },
    );
  }

  /** Client folders with a pg_dump, and its version; looked for once per engine. */
  #candidates(signal: AbortSignal): Promise<ClientCandidate[]> {
    this.#found ??= this.#findCandidates(signal);
    return this.#found;
  }

  async #findCandidates(signal: AbortSignal): Promise<ClientCandidate[]> {
    const dirs: string[] = [];
    if (this.#options.pgBinDir !== undefined) {
      dirs.push(this.#options.pgBinDir);
    } else {
      const root = this.#options.pgRoot ?? DEBIAN_PG_ROOT;
      const majors = await readdir(root).catch(() => [] as string[]);
      for (const m of majors.sort()) dirs.push(join(root, m, 'bin'));
      const onPath = findOnPath('pg_dump', this.#options.env?.PATH ?? process.env.PATH);
      // Debian's /usr/bin/pg_dump is a wrapper that picks one of the folders above by its own
      // rules: the folders themselves are the candidates.
      if (onPath !== undefined && basename(realpathSync(onPath)) === 'pg_dump') {
        dirs.push(dirname(onPath));
      }
    }
    const unique = [...new Set(dirs)].filter((dir) => isExecutable(join(dir, 'pg_dump')));
    // Asked all at once: each answer is a process start.
    const versions = await Promise.all(
      unique.map((dir) =>
        runTool(
          {
            tool: 'pg_dump',
            command: join(dir, 'pg_dump'),
            args: ['--version'],
            env: baseToolEnv(this.#options.env),
          },
          { signal },
        ).catch(() => ''),
      ),
    );
    const out: ClientCandidate[] = [];
    for (const [i, dir] of unique.entries()) {
      const version = parsePgToolVersion(versions[i] ?? '');
      if (version !== undefined) out.push({ dir, version });
    }
    // A Debian /usr/bin/pg_dump is a wrapper of one of the folders above: same version, keep one.
    return out.filter((c, i) => out.findIndex((o) => o.version.text === c.version.text) === i);
  }

  async listDatabases(tools: ClientTools, signal: AbortSignal): Promise<string[]> {
    const out = await runTool(
      this.#psql(
        tools,
        this.#maintenanceDb(),
        'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname',
        true,
      ),
      { signal, secrets: this.secrets() },
    );
    return out.split('\0').filter((n) => n !== '' && n !== '\n');
  }

  dumpPlan(tools: ClientTools, database: string, format: DumpFormat): DumpPlan {
    return {
      kind: 'database',
      format,
      extension: format === 'custom' ? 'dump' : 'sql',
      command: {
        tool: 'pg_dump',
        command: tools.dump,
        args: [
          '--no-password',
          `--format=${format}`,
          // s3worker compresses the stream itself (zstd by default): pg_dump's own gzip is slower.
          ...(format === 'custom' ? ['--compress=0'] : []),
          `--dbname=dbname=${conninfoValue(database)}`,
        ],
        ...this.#connected(),
      },
      completeness: (head, tail) =>
        format === 'custom'
          ? head.subarray(0, 5).toString('latin1') === 'PGDMP'
            ? undefined
            : 'the dump does not start with the custom-format signature PGDMP'
          : tail.toString('utf8').includes('PostgreSQL database dump complete')
            ? undefined
            : 'the dump does not end with "PostgreSQL database dump complete"',
    };
  }

  globalsPlan(tools: ClientTools): DumpPlan {
    return {
      kind: 'globals',
      format: 'plain',
      extension: 'sql',
      command: {
        tool: 'pg_dumpall',
        command: tools.dumpGlobals ?? join(dirname(tools.dump), 'pg_dumpall'),
        args: [
          '--globals-only',
          '--no-password',
          `--dbname=dbname=${conninfoValue(this.#maintenanceDb())}`,
        ],
        ...this.#connected(),
      },
      completeness: (_head, tail) =>
        tail.toString('utf8').includes('PostgreSQL database cluster dump complete')
          ? undefined
          : 'the dump does not end with "PostgreSQL database cluster dump complete"',
    };
  }

  restoreCommand(
    tools: ClientTools,
    database: string,
    format: DumpFormat,
    kind: BackupKind,
    options: RestoreOptions,
  ): ToolCommand {
    const dbname = `--dbname=dbname=${conninfoValue(database)}`;
    if (format === 'custom') {
      return {
        tool: 'pg_restore',
        command: tools.restoreArchive ?? join(dirname(tools.sql), 'pg_restore'),
        args: [
          '--no-password',
          '--exit-on-error',
          // One transaction: a restore that fails half-way leaves the target as it was.
          '--single-transaction',
          ...(options.clean ? ['--clean', '--if-exists'] : []),
          ...(options.noOwner ? ['--no-owner'] : []),
          dbname,
        ],
        ...this.#connected(),
      };
    }
    const connected = this.#connected();
    // Roles may exist already on the target (the restoring user's own, at least): a globals
    // script is applied statement by statement, past "already exists" errors, as pg_dumpall's
    // own documentation advises. Each error comes with its SQLSTATE and the statement echoed
    // after it, in psql's own English (LC_ALL=C: the script sets its client_encoding itself),
    // for GlobalsErrors to judge.
    const globals = kind === 'globals';
    return {
      tool: 'psql',
      command: tools.sql,
      args: [
        '-X',
        '-q',
        '--no-password',
        ...(globals
          ? ['-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=verbose', '--echo-errors']
          : ['-v', 'ON_ERROR_STOP=1', '--single-transaction']),
        '-o',
        '/dev/null',
        dbname,
      ],
      ...connected,
      env: globals ? { ...connected.env, LC_ALL: 'C' } : connected.env,
    };
  }

  async databaseExists(
    tools: ClientTools,
    database: string,
    signal: AbortSignal,
  ): Promise<boolean> {
    const out = await runTool(
      this.#psql(
        tools,
        this.#maintenanceDb(),
        `SELECT count(*) FROM pg_database WHERE datname = ${pgLiteral(database)}`,
      ),
      { signal, secrets: this.secrets() },
    );
    return out.trim() === '1';
  }

  async createDatabase(tools: ClientTools, database: string, signal: AbortSignal): Promise<void> {
    await runTool(
      this.#psql(tools, this.#maintenanceDb(), `CREATE DATABASE ${pgIdent(database)}`),
      {
        signal,
        secrets: this.secrets(),
      },
    );
  }
}
