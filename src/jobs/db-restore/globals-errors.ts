/** One statement of a globals script that failed. */
export interface GlobalsFailure {
  /** The statement's first words (see {@link statementHead}): never a literal, never a password. */
  statement: string;
  /** The server's SQLSTATE (`42501`). */
  sqlstate: string;
  /** The server's message, with every single-quoted literal masked. */
  error: string;
}

/** Failures kept one by one; past this they are only counted (a script may hold 100,000 roles). */
const KEEP_FAILURES = 100;

/** SQLSTATE classes that are not errors: success, warning, no data. */
const NOT_ERROR_CLASSES = new Set(['00', '01', '02']);

/** A message line of `psql -v VERBOSITY=verbose`: severity (localized), SQLSTATE, text. */
const MESSAGE_LINE = /^[^\s:]+: {2}([0-9A-Z]{5}): (.*)$/;
/** The failed statement, as `psql -b` echoes it after the error (LC_MESSAGES=C). */
const STATEMENT_LINE = /^STATEMENT: {2}(.*)$/;

/**
 * Reads the stderr of `psql -b -v VERBOSITY=verbose -v ON_ERROR_STOP=0` applying a
 * `pg_dumpall --globals-only` script, line by line: each error with the first words of its
 * statement. `CREATE ROLE` of a role that exists already (SQLSTATE 42710) is what pg_dumpall's
 * scripts expect on any cluster that has the role (the `ALTER ROLE` after it sets its
 * attributes): counted in `existing`, not a failure. `line()` returns what of each line may be
 * kept for an error message: the first line of each server message and psql's own messages,
 * literals masked; never the echoed statement, nor the `LINE 1: ...` quote of it, which can
 * hold a password (hash).
 */
export class GlobalsErrors {
  /** The first failures (at most 100), in order. */
  readonly failures: GlobalsFailure[] = [];
  /** How many statements failed in all. */
  failed = 0;
  /** `CREATE ROLE` statements of roles that exist already. */
  existing = 0;
  /** An error whose statement has not been echoed yet. */
  #pending: { sqlstate: string; error: string } | undefined;

  /** Takes one stderr line; returns what may be kept of it (undefined: nothing). */
  line(text: string): string | undefined {
    const statement = STATEMENT_LINE.exec(text);
    if (statement) {
      this.#settle(statementHead(statement[1]!));
      return undefined;
    }
    const message = MESSAGE_LINE.exec(text);
    if (message) {
      const sqlstate = message[1]!;
      const error = maskLiterals(message[2]!);
      if (!NOT_ERROR_CLASSES.has(sqlstate.slice(0, 2))) {
        this.#settle(undefined);
        this.#pending = { sqlstate, error };
      }
      return `${sqlstate}: ${error}`;
    }
    // psql's own words (a connection that failed or was lost).
    if (text.startsWith('psql:')) return maskLiterals(text);
    // LOCATION, DETAIL, HINT, a statement's further lines, and the `LINE 1: ...` quote of the
    // statement, which may cut a literal anywhere (a password hash's tail, unquoted).
    return undefined;
  }

  /** Settles an error still waiting for its statement; call at the end of the output. */
  finish(): void {
    this.#settle(undefined);
  }

  #settle(statement: string | undefined): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    const head = statement ?? '';
    if (pending.sqlstate === '42710' && /^CREATE ROLE\b/i.test(head)) {
      this.existing++;
      return;
    }
    this.failed++;
    if (this.failures.length < KEEP_FAILURES) this.failures.push({ statement: head, ...pending });
  }
}

/**
 * The first words of an SQL statement, for a log line: at most `maxWords`, stopping before a
 * `PASSWORD` keyword and at the first quote or `$` (a literal or a dollar-quoted body), so no
 * literal (a password or its hash) is ever part of it. `ALTER ROLE app WITH LOGIN PASSWORD '...'`
 * → `ALTER ROLE app WITH`.
 */
export function statementHead(sql: string, maxWords = 4): string {
  const words: string[] = [];
  for (const word of sql.trim().split(/\s+/)) {
    if (words.length === maxWords || /^(ENCRYPTED|PASSWORD)$/i.test(word)) break;
    const literal = word.search(/['$]/);
    const kept = (literal === -1 ? word : word.slice(0, literal)).replace(/;$/, '');
    if (kept !== '') words.push(kept);
    if (literal !== -1) break;
  }
  return words.join(' ');
}

/** `text` with each single-quoted literal replaced by `'…'`. */
function maskLiterals(text: string): string {
  return text.replace(/'(?:[^']|'')*'?/g, "'…'");
}
