import { ConfigError, ExitCode, S3WorkerError } from '../../../errors.js';
import type { Connection } from '../connection.js';
import type { SslMode } from '../connection-options.js';
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

/** Which client family a MySQL-protocol tool belongs to: their TLS flags differ. */
export type MysqlClientFlavor = 'mysql' | 'mariadb';

/** The family of a client from its `--version` output (MariaDB's always names itself). */
export function mysqlClientFlavor(versionOutput: string): MysqlClientFlavor {
  return /MariaDB/i.test(versionOutput) ? 'mariadb' : 'mysql';
}

const MYSQL_SSL_MODE: Record<SslMode, string> = {
  disable: 'DISABLED',
  prefer: 'PREFERRED',
  require: 'REQUIRED',
  'verify-ca': 'VERIFY_CA',
  'verify-full': 'VERIFY_IDENTITY',
};

/**
 * The command-line flags that give a client `mode`: MySQL's `--ssl-mode`; for MariaDB's
 * clients, which have no such option, `--ssl` with or without `--ssl-verify-server-cert`. A
 * MariaDB client that does not check the certificate falls back to a plain connection when the
 * server offers no TLS, and one that checks it fails then: MariaDB has no "TLS required but
 * unchecked", so require and verify-ca check the certificate and host name as verify-full does.
 * Stated explicitly for every mode because the defaults moved: 11.4+ clients require TLS and
 * check the certificate once a password is given, 10.x clients use no TLS unless asked.
 */
export function mysqlTlsArgs(
  flavor: MysqlClientFlavor,
  mode: SslMode,
  rootCert?: string,
): string[] {
  const ca = rootCert !== undefined && mode !== 'disable' ? [`--ssl-ca=${rootCert}`] : [];
  if (flavor === 'mysql') return [`--ssl-mode=${MYSQL_SSL_MODE[mode]}`, ...ca];
  if (mode === 'disable') return ['--skip-ssl'];
  if (mode === 'prefer') return ['--ssl', '--skip-ssl-verify-server-cert', ...ca];
  return ['--ssl', '--ssl-verify-server-cert', ...ca];
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
 * inherit, see `SecretFile`), TLS as flags after it (`mysqlTlsArgs`, by the client's family);
 * a database name is passed after `--` (or as `--database=NAME`), so a name such as `--help`
 * stays a name.
 */
export class MysqlEngine implements DatabaseEngine {
  readonly name = 'mysql' as const;
  readonly #connection: Connection;
  readonly #optionFile: SecretFile;
  readonly #options: MysqlEngineOptions;
  /** Each client program's family, from its `--version` (see `#version`). */
  readonly #flavors = new Map<string, MysqlClientFlavor>();

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

  /** `client --version`: what the version checks read, and the client's family, kept. */
  async #version(client: string, signal: AbortSignal): Promise<string> {
    const out = await runTool(
      { tool: 'mysql', command: client, args: ['--version'], env: this.#env() },
      { signal },
    );
    this.#flavors.set(client, mysqlClientFlavor(out));
    return out;
  }

  /**
   * The flags every connecting tool starts with: the option file (first, or the client ignores
   * it), then TLS, whose flags depend on the client's family (`#version` read it).
   */
  #connectArgs(client: string): string[] {
    const flavor = this.#flavors.get(client);
    if (flavor === undefined) throw new Error(`internal: ${client} --version was never read`);
    return [
      `--defaults-extra-file=${this.#optionFile.path}`,
      ...mysqlTlsArgs(flavor, this.#connection.sslMode, this.#connection.sslRootCert),
    ];
  }

  /** `mysql -N -B -e SQL` (no column names, tab-separated): its output. */
  #query(client: string, sql: string, signal: AbortSignal): Promise<string> {
    return runTool(
      {
        tool: 'mysql',
        command: client,
        args: [...this.#connectArgs(client), '-N', '-B', '-e', sql],
        env: this.#env(),
        secretFd: this.#optionFile.fd,
      },
      { signal, secrets: this.secrets() },
    );
  }

  async serverVersion(_database: string | undefined, signal: AbortSignal): Promise<DbVersion> {
    const sql = this.#tool('mariadb', 'mysql');
    if (!this.#flavors.has(sql)) await this.#version(sql, signal);
    const out = await this.#query(sql, 'SELECT VERSION()', signal);
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
    const [text] = await Promise.all([
      this.#version(dump, signal),
      this.#flavors.has(sql) ? undefined : this.#version(sql, signal),
    ]);
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
    const out = await this.#query(tools.sql, 'SHOW DATABASES', signal);
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
          ...this.#connectArgs(tools.dump),
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
        ...this.#connectArgs(tools.sql),
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
    const out = await this.#query(
      tools.sql,
      `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${mysqlLiteral(database)}`,
      signal,
    );
    return out.trim() === '1';
  }

  async createDatabase(tools: ClientTools, database: string, signal: AbortSignal): Promise<void> {
    await this.#query(tools.sql, `CREATE DATABASE ${mysqlIdent(database)}`, signal);
  }
}
