import { ConfigError, ExitCode, S3WorkerError } from '../../../errors.js';
import type { Connection } from '../connection.js';
import type { SecretDir, SecretFile } from '../secret-dir.js';
import { runTool, type ToolCommand } from '../tool-process.js';
import { type DbVersion, mysqlClientProblem, parseMysqlVersion } from '../version-match.js';
import type { ClientTools, DatabaseEngine, DumpFormat, DumpPlan } from './engine.js';
import { baseToolEnv, findOnPath } from './local-tools.js';

/** Schemas that belong to the server, never part of `--all-databases`. */
export const MYSQL_SYSTEM_SCHEMAS = ['information_schema', 'performance_schema', 'sys', 'mysql'];

/** Options of the MySQL engine. */
export interface MysqlEngineOptions {
  /** The process environment (PATH, HOME). */
  env?: NodeJS.ProcessEnv;
}

/** `name` as a MySQL identifier: backquoted, inner backquotes doubled. */
export function mysqlIdent(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

/** `text` as a MySQL string that no sql_mode can reinterpret: a hex literal read as utf8mb4. */
export function mysqlLiteral(text: string): string {
  return `CONVERT(X'${Buffer.from(text, 'utf8').toString('hex')}' USING utf8mb4)`;
}

/** An option-file value: double-quoted, with `\` and `"` escaped. */
function optionValue(text: string): string {
  return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** Undoes mysql's batch-mode escaping of `\n`, `\t`, `\\` and `\0` in a result field. */
function unescapeBatch(text: string): string {
  return text.replace(/\\([nt0\\])/g, (_, c: string) =>
    c === 'n' ? '\n' : c === 't' ? '\t' : c === '0' ? '\0' : '\\',
  );
}

/**
 * MySQL and MariaDB: `mysqldump --single-transaction --routines --triggers --events` (or
 * `mariadb-dump`), `mysql` for restores. Host, port, user and password go to the tools in a
 * 0600 option file named by `--defaults-extra-file` (on Linux an unlinked file the tools
 * inherit, see `SecretFile`); a database name is passed after `--` (or
 * as `--database=NAME`), so a name such as `--help` stays a name.
 */
export class MysqlEngine implements DatabaseEngine {
  readonly name = 'mysql' as const;
  readonly #connection: Connection;
  readonly #optionFile: SecretFile;
  readonly #options: MysqlEngineOptions;

  private constructor(connection: Connection, optionFile: SecretFile, options: MysqlEngineOptions) {
    this.#connection = connection;
    this.#optionFile = optionFile;
    this.#options = options;
  }

  /** Writes the option file into `secrets`. */
  static async create(
    connection: Connection,
    secrets: SecretDir,
    options: MysqlEngineOptions = {},
  ): Promise<MysqlEngine> {
    const c = connection;
    for (const [name, value] of [
      ['host', c.host],
      ['user', c.user],
      ['password', c.password],
    ] as const) {
      if (value !== undefined && /[\r\n]/.test(value)) {
        throw new ConfigError([{ path: name, message: 'must not contain a line break' }]);
      }
    }
    const lines = ['[client]'];
    if (c.host !== undefined) lines.push(`host=${optionValue(c.host)}`);
    if (c.port !== undefined) lines.push(`port=${c.port}`);
    if (c.user !== undefined) lines.push(`user=${optionValue(c.user)}`);
    if (c.password !== undefined) lines.push(`password=${optionValue(c.password)}`);
    const file = await secrets.write('my.cnf', `${lines.join('\n')}\n`);
    return new MysqlEngine(connection, file, options);
  }

  secrets(): string[] {
    return this.#connection.password === undefined ? [] : [this.#connection.password];
  }

  #env(): Record<string, string> {
    return baseToolEnv(this.#options.env);
  }

  /** The tool named first that is on PATH (MariaDB 11 renamed the tools). */
  #tool(...names: string[]): string {
    for (const name of names) {
      const found = findOnPath(name, this.#options.env?.PATH ?? process.env.PATH);
      if (found !== undefined) return found;
    }
    throw new S3WorkerError(`no ${names.join(' or ')} on PATH`, {
      code: 'DB_VERSION_MISMATCH',
      exitCode: ExitCode.Config,
      hint: 'install the MySQL or MariaDB client tools (Debian: mariadb-client)',
    });
  }

  /** `mysql -N -B -e SQL` (no column names, tab-separated), with the option file first. */
  #query(client: string, sql: string): ToolCommand {
    return {
      tool: 'mysql',
      command: client,
      // --defaults-extra-file must come first, or the client ignores it.
      args: [`--defaults-extra-file=${this.#optionFile.path}`, '-N', '-B', '-e', sql],
      env: this.#env(),
      secretFd: this.#optionFile.fd,
    };
  }

  async serverVersion(_database: string | undefined, signal: AbortSignal): Promise<DbVersion> {
    const out = await runTool(this.#query(this.#tool('mariadb', 'mysql'), 'SELECT VERSION()'), {
      signal,
      secrets: this.secrets(),
    });
    const version = parseMysqlVersion(out);
    if (version === undefined) {
      throw new S3WorkerError(`cannot read the server version from ${JSON.stringify(out.trim())}`, {
        code: 'DB_VERSION_UNKNOWN',
        exitCode: ExitCode.ObjectsFailed,
      });
    }
    return version;
  }

  async chooseClient(server: DbVersion, signal: AbortSignal): Promise<ClientTools> {
    const dump = this.#tool('mariadb-dump', 'mysqldump');
    const sql = this.#tool('mariadb', 'mysql');
    const text = await runTool(
      { tool: 'mysqldump', command: dump, args: ['--version'], env: this.#env() },
      { signal },
    );
    const version = parseMysqlVersion(text);
    if (version === undefined) {
      throw new S3WorkerError(`cannot read the version of ${dump}`, {
        code: 'DB_VERSION_MISMATCH',
        exitCode: ExitCode.Config,
      });
    }
    const problem = mysqlClientProblem(version, server);
    if (problem !== undefined) {
      throw new S3WorkerError(`${problem}: refusing to dump with it`, {
        code: 'DB_VERSION_MISMATCH',
        exitCode: ExitCode.Config,
        context: { serverVersion: server.text, clientVersion: version.text },
        hint: `install a ${server.flavor} client of version ${server.major}.${server.minor} or newer`,
      });
    }
    return { version, dump, sql };
  }

  async listDatabases(tools: ClientTools, signal: AbortSignal): Promise<string[]> {
    const out = await runTool(this.#query(tools.sql, 'SHOW DATABASES'), {
      signal,
      secrets: this.secrets(),
    });
    return out
      .split('\n')
      .filter((l) => l !== '')
      .map(unescapeBatch)
      .filter((n) => !MYSQL_SYSTEM_SCHEMAS.includes(n.toLowerCase()))
      .sort();
  }

  dumpPlan(tools: ClientTools, database: string, _format: DumpFormat): DumpPlan {
    return {
      kind: 'database',
      format: 'plain',
      extension: 'sql',
      command: {
        tool: 'mysqldump',
        command: tools.dump,
        args: [
          `--defaults-extra-file=${this.#optionFile.path}`,
          // One consistent snapshot of InnoDB tables without locking them.
          '--single-transaction',
          '--routines',
          '--triggers',
          '--events',
          '--hex-blob',
          '--default-character-set=utf8mb4',
          // Needs the PROCESS privilege on MySQL 8 and is rarely wanted in a logical backup.
          '--no-tablespaces',
          '--',
          database,
        ],
        env: this.#env(),
        secretFd: this.#optionFile.fd,
      },
      completeness: (_head, tail) =>
        tail.toString('utf8').includes('-- Dump completed')
          ? undefined
          : 'the dump does not end with "-- Dump completed"',
    };
  }

  globalsPlan(): undefined {
    return undefined;
  }

  restoreCommand(tools: ClientTools, database: string): ToolCommand {
    return {
      tool: 'mysql',
      command: tools.sql,
      args: [
        `--defaults-extra-file=${this.#optionFile.path}`,
        '--default-character-set=utf8mb4',
        '--binary-mode',
        `--database=${database}`,
      ],
      env: this.#env(),
      secretFd: this.#optionFile.fd,
    };
  }

  async databaseExists(
    tools: ClientTools,
    database: string,
    signal: AbortSignal,
  ): Promise<boolean> {
    const out = await runTool(
      this.#query(
        tools.sql,
        `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${mysqlLiteral(database)}`,
      ),
      { signal, secrets: this.secrets() },
    );
    return out.trim() === '1';
  }

  async createDatabase(tools: ClientTools, database: string, signal: AbortSignal): Promise<void> {
    await runTool(this.#query(tools.sql, `CREATE DATABASE ${mysqlIdent(database)}`), {
      signal,
      secrets: this.secrets(),
    });
  }
}
