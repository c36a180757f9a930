import { z } from 'zod';

/** The database engines the backup and restore jobs drive. */
export const ENGINES = ['postgres', 'mysql'] as const;
export type EngineName = (typeof ENGINES)[number];

/**
 * How the database jobs use TLS to the server, as libpq's `sslmode` names it (MySQL and MariaDB
 * clients get the matching flags: see `mysqlTlsArgs`).
 */
export const SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/**
 * Default `sslMode`: TLS whenever the server offers it, as libpq and MySQL's own clients do by
 * default. It does not check the server's certificate (a man in the middle is not stopped; use
 * verify-full for that), and it still works with a server without TLS, where MariaDB 11.4+
 * clients, which require TLS by default once a password is given, would refuse to connect.
 */
export const DEFAULT_SSL_MODE: SslMode = 'prefer';

/** An environment variable name (letters, digits, underscore; not starting with a digit). */
const envVarName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name: letters, digits and _');

/**
 * How the database jobs reach the server: the engine's standard environment (`PGHOST`,
 * `PGPORT`, `PGUSER`, `PGPASSWORD`/`PGPASSFILE`; `MYSQL_HOST`, `MYSQL_PORT`, `MYSQL_USER`,
 * `MYSQL_PWD`/`MYSQL_PASSWORD`), a connection URL held in an environment variable, or these
 * options (which win). There is deliberately no password option: a password comes from the
 * environment or a file, never from a flag or a config file.
 */
export const connectionOptionsSchema = z.object({
  engine: z
    .enum(ENGINES)
    .describe(
      'Database engine: postgres (pg_dump/pg_restore/psql) or mysql (mysqldump/mysql; MySQL and MariaDB). Required.',
    ),
  host: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Database host. Default: PGHOST / MYSQL_HOST, else the URL, else the client default.',
    ),
  port: z
    .int()
    .min(1)
    .max(65535)
    .optional()
    .describe('Database port. Default: PGPORT / MYSQL_PORT, else the URL, else 5432 / 3306.'),
  user: z
    .string()
    .min(1)
    .optional()
    .describe('Database user. Default: PGUSER / MYSQL_USER, else the URL.'),
  passwordFile: z
    .string()
    .min(1)
    .optional()
    .describe(
      'File holding the database password (first line), e.g. a mounted secret. Default: PGPASSWORD or PGPASSFILE / MYSQL_PWD or MYSQL_PASSWORD, else the URL. The password reaches the dump tools through a 0600 file, never their command line.',
    ),
  connectionUrlEnv: envVarName
    .optional()
    .describe(
      'Name of an environment variable holding a connection URL (postgres://user:password@host:port/db or mysql://...), e.g. one injected by ECS `secrets`. Its parts are used where the options above and the standard variables say nothing. Default: none.',
    ),
  sslMode: z
    .enum(SSL_MODES)
    .optional()
    .describe(
      `TLS to the database server: disable; prefer (TLS when the server offers it, its certificate not checked); require (TLS or fail); verify-ca (and the certificate must chain to --ssl-root-cert or, for MySQL/MariaDB, the system CAs); verify-full (and name the host). MySQL/MariaDB: mapped to the client's flags; MariaDB clients check the certificate and host name whenever TLS is required, so require and verify-ca act as verify-full there. Default: PGSSLMODE or the URL's sslmode for PostgreSQL, else ${DEFAULT_SSL_MODE}.`,
    ),
  sslRootCert: z
    .string()
    .min(1)
    .optional()
    .describe(
      'PEM file of the CA certificates that verify-ca and verify-full check the server certificate against, e.g. a cloud provider\'s bundle mounted into the container. PostgreSQL also takes "system" (the system CAs; libpq 16 or newer). Default: PGSSLROOTCERT or the URL\'s sslrootcert, else ~/.postgresql/root.crt (PostgreSQL) or the system CAs (MySQL/MariaDB).',
    ),
  pgBinDir: z
    .string()
    .min(1)
    .optional()
    .describe(
      'PostgreSQL only: folder of the client tools (pg_dump, pg_restore, psql) to use; its major version must be at least the server major. Default: the best of /usr/lib/postgresql/<major>/bin and PATH.',
    ),
});

/** The parsed connection options. */
export type ConnectionOptions = z.infer<typeof connectionOptionsSchema>;
