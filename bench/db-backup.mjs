// db-backup throughput: a pgbench database (scale 20 ≈ 300 MB dumped) backed up to the local
// MinIO by `s3worker run db-backup`, beside the shell pipelines people write, measured in the
// same run: `pg_dump -Fc -Z0 | zstd -1 | s5cmd pipe` and `pg_dump -Fc | aws s3 cp -`. Then the
// restore beside `s5cmd cat | zstd -d | pg_restore`. The pipelines are built with pipes between
// processes (no shell). Needs `npm run build`, the local servers (scripts/test-services.sh start)
// and the peers (bench/setup.sh).
//
//   node bench/db-backup.mjs [--scale 20] [--runs 1]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBenchClient, createBucket, removeBucket } from './lib/bench-s3.mjs';
import { shebangNodeFlags } from './lib/bin-flags.mjs';
import { onLogLines, option, peakRss, servicesEnv } from './lib/job-bench.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist/cli/main.js');
const say = (text) => process.stderr.write(`[bench db-backup] ${text}\n`);
const MB = 1e6;

/** The log message s3worker writes as it starts a dump tool. */
const DUMP_STARTING = 'dump starting';

/**
 * Runs processes connected stdout → stdin, like a shell pipeline; resolves with the wall time
 * and, for `watch` (an index), that process's peak RSS and, when it logs JSON on stdout, the
 * seconds until it logged DUMP_STARTING (its start-up before the dump tool runs). Rejects when
 * any exits non-zero.
 */
function pipeline(commands, env, watch) {
  return new Promise((resolvePipe, reject) => {
    const started = process.hrtime.bigint();
    const startedAt = Date.now();
    let dumpStartedAfter;
    const children = [];
    let previous;
    for (const [i, [cmd, args]] of commands.entries()) {
      const last = i === commands.length - 1;
      const child = spawn(cmd, args, {
        env,
        stdio: [
          previous ? previous.stdout : 'ignore',
          !last || i === watch ? 'pipe' : 'ignore',
          'pipe',
        ],
      });
      if (last && i === watch) {
        onLogLines(child.stdout, DUMP_STARTING, ({ msg, time }) => {
          if (dumpStartedAfter === undefined && msg === DUMP_STARTING) {
            dumpStartedAfter = (Date.parse(time) - startedAt) / 1000;
          }
        });
      }
      let stderr = '';
      child.stderr.on('data', (c) => {
        stderr = (stderr + c).slice(-4000);
      });
      children.push({ child, cmd, stderr: () => stderr });
      // The next process has its own copy of this pipe now; this process's copy would keep it open.
      if (previous) previous.stdout.destroy();
      previous = child;
    }
    let peak = 0;
    const timer =
      watch === undefined
        ? undefined
        : setInterval(() => {
            const rss = peakRss(children[watch].child.pid);
            if (!Number.isNaN(rss)) peak = Math.max(peak, rss);
          }, 50);
    Promise.all(
      children.map(
        ({ child, cmd, stderr }) =>
          new Promise((ok, fail) =>
            // 'exit', not 'close': a stdout handed to the next process never closes in this one.
            child.once('exit', (code) =>
              code === 0 ? ok() : fail(new Error(`${cmd} exited ${code}: ${stderr()}`)),
            ),
          ),
      ),
    ).then(
      () => {
        clearInterval(timer);
        resolvePipe({
          seconds: Number(process.hrtime.bigint() - started) / 1e9,
          peakRss: peak,
          dumpStartedAfter,
        });
      },
      (err) => {
        clearInterval(timer);
        reject(err);
      },
    );
  });
}

async function main() {
  const scale = Number(option('scale', '20'));
  const runs = Number(option('runs', '1'));
  const services = servicesEnv();
  const tools = JSON.parse(execFileSync(join(ROOT, 'bench/setup.sh'), { encoding: 'utf8' }));
  const pgBin = '/usr/lib/postgresql/15/bin';
  const db = `bench_dbb_${randomBytes(4).toString('hex')}`;
  const pgEnv = {
    PATH: process.env.PATH,
    PGHOST: services.PGHOST,
    PGPORT: services.PGPORT,
    PGUSER: services.PGUSER,
    PGPASSWORD: services.PGPASSWORD,
  };
  const s3Env = {
    AWS_ACCESS_KEY_ID: services.S3_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: services.S3_SECRET_ACCESS_KEY,
    AWS_REGION: services.S3_REGION ?? 'us-east-1',
  };
  const env = { ...pgEnv, ...s3Env, S3WORKER_ENDPOINT: services.S3_ENDPOINT };
  const endpoint = services.S3_ENDPOINT;
  const s3 = createBenchClient({
    endpoint,
    region: s3Env.AWS_REGION,
    accessKeyId: s3Env.AWS_ACCESS_KEY_ID,
    secretAccessKey: s3Env.AWS_SECRET_ACCESS_KEY,
  });
  const bucket = `bench-dbb-${randomBytes(4).toString('hex')}`;
  const psql = (sql, database = 'postgres') =>
    execFileSync(`${pgBin}/psql`, ['-X', '-q', '-A', '-t', '-c', sql, '-d', database], {
      env: pgEnv,
      encoding: 'utf8',
    });
  const targets = [];
  await createBucket(s3, bucket);
  try {
    psql(`CREATE DATABASE ${db}`);
    say(`pgbench -i -s ${scale} (once)`);
    execFileSync(`${pgBin}/pgbench`, ['-i', '-q', '-s', String(scale), db], {
      env: pgEnv,
      stdio: 'ignore',
    });
    const rawBytes = await new Promise((ok, fail) => {
      const dump = spawn(`${pgBin}/pg_dump`, ['-Fc', '-Z0', db], { env: pgEnv });
      let n = 0;
      dump.stdout.on('data', (c) => {
        n += c.length;
      });
      dump.once('close', (code) =>
        code === 0 ? ok(n) : fail(new Error(`pg_dump exited ${code}`)),
      );
    });
    say(`the custom-format dump is ${(rawBytes / MB).toFixed(0)} MB`);

    const rows = [];
    const measure = async (name, commands, watch) => {
      const results = [];
      for (let i = 0; i < runs; i++) results.push(await pipeline(commands(i), env, watch));
      results.sort((a, b) => a.seconds - b.seconds);
      const best = results[0];
      rows.push({
        name,
        seconds: best.seconds,
        mbps: rawBytes / MB / best.seconds,
        peakRss: best.peakRss,
        dumpStartedAfter: best.dumpStartedAfter,
      });
      say(`${name}: ${best.seconds.toFixed(2)} s`);
    };
    const s3w = (args) => [
      process.execPath,
      // info: the run's 'dump starting' line says when the dump tool started.
      [...shebangNodeFlags(CLI), CLI, ...args, '--log-format', 'json', '--log-level', 'info'],
    ];
    await measure(
      's3worker db-backup (zstd 3)',
      (i) => [
        s3w([
          'run',
          'db-backup',
          '--engine',
          'postgres',
          '--database',
          db,
          '--output',
          `s3://${bucket}/s3w-${i}/`,
        ]),
      ],
      0,
    );
    await measure(
      's3worker db-backup --compression-level 1',
      (i) => [
        s3w([
          'run',
          'db-backup',
          '--engine',
          'postgres',
          '--database',
          db,
          '--output',
          `s3://${bucket}/s3w1-${i}/`,
          '--compression-level',
          '1',
        ]),
      ],
      0,
    );
    await measure('pg_dump -Fc -Z0 | zstd -1 | s5cmd pipe', (i) => [
      [`${pgBin}/pg_dump`, ['-Fc', '-Z0', db]],
      ['zstd', ['-1', '-q', '-c']],
      [tools.s5cmd.bin, ['--endpoint-url', endpoint, 'pipe', `s3://${bucket}/s5/${i}.dump.zst`]],
    ]);
    // The floor of every row: the dump alone, into a pipe that a process reads and discards.
    await measure('pg_dump -Fc -Z0 | cat (the dump alone)', () => [
      [`${pgBin}/pg_dump`, ['-Fc', '-Z0', db]],
      ['cat', []],
    ]);
    await measure('pg_dump -Fc | aws s3 cp -', (i) => [
      [`${pgBin}/pg_dump`, ['-Fc', db]],
      [
        tools.aws.bin,
        ['--endpoint-url', endpoint, 's3', 'cp', '-', `s3://${bucket}/aws/${i}.dump`],
      ],
    ]);

    const restoreRows = [];
    const restore = async (name, commands, watch) => {
      const target = `${db}_r${restoreRows.length}`;
      targets.push(target);
      psql(`CREATE DATABASE ${target}`);
      const r = await pipeline(commands(target), env, watch);
      restoreRows.push({
        name,
        seconds: r.seconds,
        mbps: rawBytes / MB / r.seconds,
        peakRss: r.peakRss,
      });
      say(`${name}: ${r.seconds.toFixed(2)} s`);
    };
    await restore(
      's3worker db-restore (verify pass, then restore)',
      (target) => [
        s3w([
          'run',
          'db-restore',
          '--engine',
          'postgres',
          '--input',
          `s3://${bucket}/s3w-0/`,
          '--from-database',
          db,
          '--database',
          target,
        ]),
      ],
      0,
    );
    await restore('s5cmd cat | zstd -d | pg_restore', (target) => [
      [tools.s5cmd.bin, ['--endpoint-url', endpoint, 'cat', `s3://${bucket}/s5/0.dump.zst`]],
      ['zstd', ['-d', '-q', '-c']],
      [`${pgBin}/pg_restore`, ['--single-transaction', '-d', target]],
    ]);

    // The pipelines that store a backup; the dump alone stores nothing.
    const isPeer = (r) => !r.name.startsWith('s3worker') && !r.name.includes('(the dump alone)');
    const fastest = Math.min(...rows.filter(isPeer).map((r) => r.seconds));
    const table = [
      `db-backup bench: pgbench scale ${scale}, custom-format dump ${(rawBytes / MB).toFixed(0)} MB, best of ${runs}, ${new Date().toISOString()}`,
      '',
      '| backup | seconds | MB/s of dump | vs fastest pipeline | dump tool started after | peak RSS (s3worker) |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows.map(
        (r) =>
          `| ${r.name} | ${r.seconds.toFixed(2)} | ${r.mbps.toFixed(0)} | ${(fastest / r.seconds).toFixed(2)}x | ${r.dumpStartedAfter !== undefined ? `${r.dumpStartedAfter.toFixed(2)} s` : ''} | ${r.peakRss ? `${(r.peakRss / 1024 ** 2).toFixed(0)} MiB` : ''} |`,
      ),
      '',
      '| restore | seconds | MB/s of dump | peak RSS (s3worker) |',
      '| --- | --- | --- | --- |',
      ...restoreRows.map(
        (r) =>
          `| ${r.name} | ${r.seconds.toFixed(2)} | ${r.mbps.toFixed(0)} | ${r.peakRss ? `${(r.peakRss / 1024 ** 2).toFixed(0)} MiB` : ''} |`,
      ),
    ].join('\n');
    process.stdout.write(`${table}\n`);
    writeFileSync(join(ROOT, 'bench/results/latest-db-backup.md'), `${table}\n`);
  } finally {
    for (const t of targets) psql(`DROP DATABASE IF EXISTS ${t}`);
    psql(`DROP DATABASE IF EXISTS ${db}`);
    await removeBucket(s3, bucket);
    s3.destroy();
  }
}

await main();
