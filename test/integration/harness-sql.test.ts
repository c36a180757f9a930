import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';

const run = promisify(execFile);

describe('the SQL test servers', () => {
  const { postgres, mysql } = inject('servers');
  // Passwords go through the environment, never argv.
  const pgEnv = { ...process.env, PGPASSWORD: postgres.password };
  const myEnv = { ...process.env, MYSQL_PWD: mysql.password };
  const pgArgs = ['-h', postgres.host, '-p', String(postgres.port), '-U', postgres.user];
  const myArgs = ['-h', mysql.host, '-P', String(mysql.port), '-u', mysql.user];

  it('has the PostgreSQL and MariaDB client tools the backup jobs need', async () => {
    for (const tool of ['psql', 'pg_dump', 'mysql', 'mysqldump']) {
      const { stdout } = await run(tool, ['--version']);
      expect(stdout, tool).toMatch(/\d+\.\d+/);
    }
  });

  it('answers a query on PostgreSQL through psql', async () => {
    const { stdout } = await run(
      'psql',
      [...pgArgs, '-d', postgres.database, '-tAc', 'SELECT 6 * 7, current_user'],
      {
        env: pgEnv,
      },
    );
    expect(stdout.trim()).toBe(`42|${postgres.user}`);
  });

  it('dumps a PostgreSQL table with pg_dump', async () => {
    const table = `harness_${process.pid}_${Date.now()}`;
    await run(
      'psql',
      [
        ...pgArgs,
        '-d',
        postgres.database,
        '-qc',
        `CREATE TABLE ${table} (v text); INSERT INTO ${table} VALUES ('hello')`,
      ],
      { env: pgEnv },
    );
    try {
      const { stdout } = await run(
        'pg_dump',
        [...pgArgs, '-d', postgres.database, '-t', table, '--data-only', '--inserts'],
        { env: pgEnv },
      );
      expect(stdout).toContain(`INSERT INTO public.${table} VALUES ('hello');`);
    } finally {
      await run('psql', [...pgArgs, '-d', postgres.database, '-qc', `DROP TABLE ${table}`], {
        env: pgEnv,
      });
    }
  });

  it('answers a query on MariaDB through mysql', async () => {
    const { stdout } = await run(
      'mysql',
      [...myArgs, '-N', '-B', '-e', 'SELECT 6 * 7, VERSION()'],
      { env: myEnv },
    );
    const [answer, version] = stdout.trim().split('\t');
    expect(answer).toBe('42');
    expect(version).toMatch(/MariaDB/);
  });

  it('dumps a MariaDB table with mysqldump --single-transaction', async () => {
    const db = `harness_${process.pid}_${Date.now()}`;
    await run(
      'mysql',
      [
        ...myArgs,
        '-e',
        `CREATE DATABASE ${db}; CREATE TABLE ${db}.t (v TEXT); INSERT INTO ${db}.t VALUES ('hello')`,
      ],
      { env: myEnv },
    );
    try {
      const { stdout } = await run('mysqldump', [...myArgs, '--single-transaction', db], {
        env: myEnv,
      });
      expect(stdout).toContain("INSERT INTO `t` VALUES\n('hello')");
    } finally {
      await run('mysql', [...myArgs, '-e', `DROP DATABASE ${db}`], { env: myEnv });
    }
  });
});
