/** A server or client version as the database jobs compare them. */
export interface DbVersion {
  /** As the program printed it (`15.18`, `10.11.19-MariaDB`). */
  text: string;
  /** PostgreSQL: the major (15); MySQL/MariaDB: the first number (8, 10, 11). */
  major: number;
  /** MySQL/MariaDB: the second number; PostgreSQL: the minor release. */
  minor: number;
  flavor: 'postgres' | 'mysql' | 'mariadb';
}

/** A client tool folder found on this machine and its version. */
export interface ClientCandidate {
  /** Folder holding the tools (`/usr/lib/postgresql/15/bin`). */
  dir: string;
  version: DbVersion;
}

/** `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` → 15.18; undefined when unrecognised. */
export function parsePgToolVersion(output: string): DbVersion | undefined {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(output);
  if (!m) return undefined;
  const major = Number(m[1]);
  const minor = Number(m[2] ?? 0);
  return { text: m[2] === undefined ? m[1]! : `${m[1]}.${m[2]}`, major, minor, flavor: 'postgres' };
}

/**
 * The server's version from `server_version_num` (150018 → 15.18) and `server_version`
 * (shown as is). Before PostgreSQL 10 the major had two parts (90624 → 9.6): these count as
 * major 9 here, older than any supported client.
 */
export function parsePgServerVersion(versionNum: string, versionText: string): DbVersion {
  const n = Number(versionNum.trim());
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`unexpected server_version_num ${JSON.stringify(versionNum)}`);
  }
  const major = Math.floor(n / 10_000);
  const minor = n >= 100_000 ? n % 10_000 : Math.floor(n / 100) % 100;
  return { text: versionText.trim().split(/\s/)[0] ?? String(n), major, minor, flavor: 'postgres' };
}

/**
 * `mysqldump  Ver 10.19 Distrib 10.11.19-MariaDB, ...`, `mariadb-dump from 11.4.2-MariaDB, ...`,
 * `mysqldump  Ver 8.0.36 for Linux ...` or a server's `SELECT VERSION()` (`10.11.19-MariaDB-...`,
 * `8.0.36`) → its version; undefined when unrecognised.
 */
export function parseMysqlVersion(output: string): DbVersion | undefined {
  const maria = /(\d+)\.(\d+)\.(\d+)-MariaDB/i.exec(output);
  if (maria) {
    return {
      text: `${maria[1]}.${maria[2]}.${maria[3]}-MariaDB`,
      major: Number(maria[1]),
      minor: Number(maria[2]),
      flavor: 'mariadb',
    };
  }
  const mysql = /(?:Ver\s+|^)(\d+)\.(\d+)\.(\d+)/.exec(output.trim());
  if (!mysql) return undefined;
  return {
    text: `${mysql[1]}.${mysql[2]}.${mysql[3]}`,
    major: Number(mysql[1]),
    minor: Number(mysql[2]),
    flavor: 'mysql',
  };
}

/**
 * The PostgreSQL client to dump a server of `serverMajor` with: the same major when installed
 * (its dumps load into that server without newer-only settings), else the oldest newer one
 * (pg_dump reads older servers, never newer ones). Undefined when every client is older.
 */
export function choosePgClient(
  candidates: readonly ClientCandidate[],
  serverMajor: number,
): ClientCandidate | undefined {
  const usable = candidates
    .filter((c) => c.version.major >= serverMajor)
    .sort((a, b) => a.version.major - b.version.major || b.version.minor - a.version.minor);
  return usable[0];
}

/**
 * Whether a MySQL-family dump client may dump this server: refused only when both are of the
 * same flavor and the client is older (major.minor), where it can miss syntax the server has.
 * Across flavors (a MariaDB client and a MySQL server) the dump works for ordinary schemas and
 * the caller warns.
 */
export function mysqlClientProblem(client: DbVersion, server: DbVersion): string | undefined {
  if (client.flavor !== server.flavor) return undefined;
  const older =
    client.major < server.major || (client.major === server.major && client.minor < server.minor);
  if (!older) return undefined;
  return `the ${client.flavor} client ${client.text} is older than the server ${server.text}`;
}

/** The PostgreSQL major that added `transaction_timeout`. */
const TRANSACTION_TIMEOUT_MAJOR = 17;

/**
 * Why a PostgreSQL restore into `server` cannot work, or undefined. pg_dump and pg_restore 17
 * and newer open every restore script with `SET transaction_timeout = 0` (pg_restore's fixed
 * session settings, written whatever the target server; not an entry of the archive's table of
 * contents), and a server before 17 rejects the unknown setting. A custom archive gets it from
 * the pg_restore that applies it (`restoreToolMajor`), which must be at least as new as the
 * pg_dump that wrote it; a plain SQL dump carries it in its text (`dumpToolMajor`).
 */
export function pgRestoreProblem(
  server: DbVersion,
  format: 'custom' | 'plain',
  dumpToolMajor: number,
  restoreToolMajor: number,
): string | undefined {
  if (server.major >= TRANSACTION_TIMEOUT_MAJOR) return undefined;
  const setBy =
    format === 'custom'
      ? restoreToolMajor >= TRANSACTION_TIMEOUT_MAJOR && `pg_restore ${restoreToolMajor}`
      : dumpToolMajor >= TRANSACTION_TIMEOUT_MAJOR && `the SQL dump of pg_dump ${dumpToolMajor}`;
  if (setBy === false) return undefined;
  return `the backup was dumped by pg_dump ${dumpToolMajor}, and ${setBy} starts the restore with SET transaction_timeout, which the PostgreSQL ${server.text} server (before ${TRANSACTION_TIMEOUT_MAJOR}) rejects`;
}
