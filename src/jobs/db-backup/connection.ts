import { readFile } from 'node:fs/promises';
import { ConfigError } from '../../errors.js';
import {
  type ConnectionOptions,
  DEFAULT_SSL_MODE,
  type EngineName,
  type SslMode,
} from './connection-options.js';

/** Where and as whom to connect, resolved once per run. Never logged whole: it holds the password. */
export interface Connection {
  engine: EngineName;
  host?: string;
  port?: number;
  user?: string;
  /** The password, when one was given; it only ever goes into a 0600 file for the tools. */
  password?: string;
  /** A password file of the user's own (`PGPASSFILE`), passed through as is. */
  passfile?: string;
  /** The database to connect to for server-level queries (version, listing). */
  maintenanceDatabase?: string;
  /**
   * Other libpq settings (sslmode, ...) from the options, the `PG*` variables and the URL, as
   * `PG*` variables; PGSSLMODE always set (`--ssl-mode`, else PGSSLMODE or the URL's, else
   * prefer).
   */
  extraEnv: Record<string, string>;
  /** MySQL/MariaDB: TLS to the server (`--ssl-mode`, else prefer). */
  sslMode: SslMode;
  /** MySQL/MariaDB: the CA certificates `verify-*` check against (`--ssl-root-cert`). */
  sslRootCert?: string;
}

/** What may be logged about a connection (no password). */
export function describeConnection(c: Connection): Record<string, unknown> {
  return {
    engine: c.engine,
    host: c.host,
    port: c.port,
    user: c.user,
    passwordFrom:
      c.password !== undefined ? 'secret' : c.passfile !== undefined ? 'passfile' : 'none',
    sslMode: c.engine === 'postgres' ? (c.extraEnv.PGSSLMODE ?? DEFAULT_SSL_MODE) : c.sslMode,
  };
}

const LIBPQ_PARAM_ENV: Record<string, string> = {
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  application_name: 'PGAPPNAME',
  options: 'PGOPTIONS',
};

/**
 * The connection from the options, the engine's standard environment and an optional URL in an
 * environment variable, in that order of precedence.
 *
 * @throws ConfigError when the URL variable is missing or not a URL of the engine, or the
 *   password file cannot be read.
 */
export async function resolveConnection(
  options: ConnectionOptions,
  env: NodeJS.ProcessEnv,
): Promise<Connection> {
  const url = parseUrlEnv(options, env);
  const pg = options.engine === 'postgres';
  const envHost = pg ? env.PGHOST : env.MYSQL_HOST;
  const envPort = pg ? env.PGPORT : (env.MYSQL_PORT ?? env.MYSQL_TCP_PORT);
  const envUser = pg ? env.PGUSER : env.MYSQL_USER;
  const envPassword = pg ? env.PGPASSWORD : (env.MYSQL_PWD ?? env.MYSQL_PASSWORD);
  const port =
    options.port ?? numberOrUndefined(envPort, pg ? 'PGPORT' : 'MYSQL_PORT') ?? url?.port;
  let password: string | undefined;
  if (options.passwordFile !== undefined) {
    password = await readPasswordFile(options.passwordFile);
  } else {
    password = nonEmpty(envPassword) ?? url?.password;
  }
  const extraEnv: Record<string, string> = {};
  if (pg) {
    for (const [name, value] of Object.entries(env)) {
      // Every other libpq variable (sslmode, timeouts...) passes through; the secret and the
      // database ones are set by the jobs themselves.
      if (
        value !== undefined &&
        /^PG[A-Z]+$/.test(name) &&
        !['PGPASSWORD', 'PGPASSFILE', 'PGDATABASE', 'PGHOST', 'PGPORT', 'PGUSER'].includes(name)
      ) {
        extraEnv[name] = value;
      }
    }
    for (const [param, value] of Object.entries(url?.params ?? {})) {
      const name = LIBPQ_PARAM_ENV[param];
      if (name !== undefined && extraEnv[name] === undefined) extraEnv[name] = value;
    }
    if (options.sslMode !== undefined) extraEnv.PGSSLMODE = options.sslMode;
    if (options.sslRootCert !== undefined) extraEnv.PGSSLROOTCERT = options.sslRootCert;
    extraEnv.PGSSLMODE ??= DEFAULT_SSL_MODE;
  }
  const connection: Connection = {
    engine: options.engine,
    extraEnv,
    sslMode: options.sslMode ?? DEFAULT_SSL_MODE,
  };
  if (!pg && options.sslRootCert !== undefined) connection.sslRootCert = options.sslRootCert;
  const host = options.host ?? nonEmpty(envHost) ?? url?.host;
  const user = options.user ?? nonEmpty(envUser) ?? url?.user;
  const maintenanceDatabase =
    (pg ? nonEmpty(env.PGDATABASE) : nonEmpty(env.MYSQL_DATABASE)) ?? url?.database;
  if (host !== undefined) connection.host = host;
  if (port !== undefined) connection.port = port;
  if (user !== undefined) connection.user = user;
  if (password !== undefined) connection.password = password;
  if (password === undefined && pg && nonEmpty(env.PGPASSFILE) !== undefined) {
    connection.passfile = env.PGPASSFILE!;
  }
  if (maintenanceDatabase !== undefined) connection.maintenanceDatabase = maintenanceDatabase;
  return connection;
}

interface ParsedUrl {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  params: Record<string, string>;
}

function parseUrlEnv(options: ConnectionOptions, env: NodeJS.ProcessEnv): ParsedUrl | undefined {
  const name = options.connectionUrlEnv;
  if (name === undefined) return undefined;
  const field = 'connectionUrlEnv';
  const text = env[name];
  if (text === undefined || text === '') {
    throw new ConfigError([
      { path: field, message: `the environment variable ${name} is not set` },
    ]);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The text holds a password: the message names the variable, never its value.
    throw new ConfigError([{ path: field, message: `${name} does not hold a valid URL` }]);
  }
  const schemes =
    options.engine === 'postgres' ? ['postgres:', 'postgresql:'] : ['mysql:', 'mariadb:'];
  if (!schemes.includes(url.protocol)) {
    throw new ConfigError([
      {
        path: field,
        message: `${name} holds a ${url.protocol.replace(':', '')} URL; the ${options.engine} engine expects ${schemes.map((s) => `${s}//`).join(' or ')}`,
      },
    ]);
  }
  const parsed: ParsedUrl = { params: Object.fromEntries(url.searchParams) };
  if (url.hostname !== '') parsed.host = decodeURIComponent(url.hostname.replace(/^\[|\]$/g, ''));
  if (url.port !== '') parsed.port = Number(url.port);
  if (url.username !== '') parsed.user = decodeURIComponent(url.username);
  if (url.password !== '') parsed.password = decodeURIComponent(url.password);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database !== '') parsed.database = database;
  return parsed;
}

async function readPasswordFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      [
        {
          path: 'passwordFile',
          message: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
        },
      ],
      { cause: err },
    );
  }
  const first = text.split(/\r?\n/)[0] ?? '';
  if (first === '') {
    throw new ConfigError([{ path: 'passwordFile', message: `${path} is empty` }]);
  }
  return first;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function numberOrUndefined(text: string | undefined, name: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new ConfigError([{ path: name, message: `not a port number: ${JSON.stringify(text)}` }]);
  }
  return n;
}
