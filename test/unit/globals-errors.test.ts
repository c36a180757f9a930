import { describe, expect, it } from 'vitest';
import { GlobalsErrors, statementHead } from '../../src/jobs/db-restore/globals-errors.js';

/** stderr of `psql -b -v VERBOSITY=verbose -v ON_ERROR_STOP=0` (PostgreSQL 15, LC_ALL=C). */
const STDERR = `ERROR:  42710: role "s3worker" already exists
LOCATION:  CreateRole, user.c:308
STATEMENT:  CREATE ROLE s3worker;
ERROR:  42704: role "gone" does not exist
LOCATION:  get_rolespec_tuple, acl.c:5277
STATEMENT:  ALTER ROLE gone WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$aGFzaA==:a2V5';
WARNING:  01000: something to know
ERROR:  42601: unrecognized role option "bad"
LINE 1: ...ITH PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$aGFzaA==:a2V5' BAD;
                                                                    ^
LOCATION:  base_yyparse, gram.y:1207
STATEMENT:  ALTER ROLE app WITH PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$aGFzaA==:a2V5' BAD;
ERROR:  42501: permission denied to set parameter 'x'
STATEMENT:  COMMENT ON ROLE app IS 'a comment
over two lines with c2FsdA== in it';
psql: error: connection to server was lost`;

describe('GlobalsErrors (psql echoing the failed statements of a globals script)', () => {
  const read = () => {
    const errors = new GlobalsErrors();
    const kept = STDERR.split('\n')
      .map((line) => errors.line(line))
      .filter((l) => l !== undefined);
    errors.finish();
    return { errors, kept };
  };

  it('counts CREATE ROLE of a role that exists as expected, every other error as a failure with its first words', () => {
    const { errors } = read();
    expect(errors.existing).toBe(1);
    expect(errors.failed).toBe(3);
    expect(errors.failures).toEqual([
      { statement: 'ALTER ROLE gone WITH', sqlstate: '42704', error: 'role "gone" does not exist' },
      {
        statement: 'ALTER ROLE app WITH',
        sqlstate: '42601',
        error: 'unrecognized role option "bad"',
      },
      {
        statement: 'COMMENT ON ROLE app',
        sqlstate: '42501',
        error: "permission denied to set parameter '…'",
      },
    ]);
  });

  it('keeps the messages and psql’s own words, never a statement nor the LINE quote of one', () => {
    const { kept } = read();
    const text = kept.join('\n');
    expect(text).not.toContain('c2FsdA==');
    expect(text).not.toContain('SCRAM');
    expect(text).not.toContain('STATEMENT');
    expect(text).not.toContain('over two lines');
    expect(kept).toContain('42704: role "gone" does not exist');
    expect(kept).toContain('01000: something to know');
    expect(kept).toContain('psql: error: connection to server was lost');
  });

  it('settles an error whose statement never came at finish()', () => {
    const errors = new GlobalsErrors();
    errors.line('ERROR:  42501: permission denied to create role');
    expect(errors.failed).toBe(0);
    errors.finish();
    expect(errors.failures).toEqual([
      { statement: '', sqlstate: '42501', error: 'permission denied to create role' },
    ]);
  });

  it('keeps at most 100 failures one by one and counts the rest', () => {
    const errors = new GlobalsErrors();
    for (let i = 0; i < 150; i++) {
      errors.line('ERROR:  42501: permission denied to create role');
      errors.line(`STATEMENT:  CREATE ROLE r${i};`);
    }
    errors.finish();
    expect(errors.failed).toBe(150);
    expect(errors.failures).toHaveLength(100);
  });
});

describe('statementHead', () => {
  it.each([
    ['CREATE ROLE app;', 'CREATE ROLE app'],
    ["ALTER ROLE app WITH LOGIN PASSWORD 'pw';", 'ALTER ROLE app WITH'],
    ["ALTER ROLE app PASSWORD 'pw';", 'ALTER ROLE app'],
    ["ALTER USER app ENCRYPTED PASSWORD 'pw'", 'ALTER USER app'],
    ["COMMENT ON ROLE app IS 'x';", 'COMMENT ON ROLE app'],
    ["ALTER ROLE app SET search_path='x'", 'ALTER ROLE app SET'],
    ["SET x='secret'", 'SET x='],
    ['DO $$ BEGIN END $$;', 'DO'],
    ['  GRANT\n  a TO b;', 'GRANT a TO b'],
  ])('%j → %j', (sql, head) => {
    expect(statementHead(sql)).toBe(head);
  });
});
