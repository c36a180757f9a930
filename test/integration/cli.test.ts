import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { describeFields } from '../../src/config/option-fields.js';
import { runtimeOptionsSchema } from '../../src/config/runtime-options.js';
import { ExitCode } from '../../src/errors.js';
import { ObjectTransformJob } from '../../src/jobs/stream-transform/object-transform-job.js';
import { ROOT, runCli, workerEnv } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';

const s3 = inject('servers').s3;
const ECHO = join(ROOT, 'test/fixtures/jobs/echo-config-job.mjs');

const awsEnv = (extra: Record<string, string> = {}) => workerEnv(s3, tmpdir(), extra);

describe('s3worker --version, jobs, --help', () => {
  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('keeps compiled code for the next start under the temp dir, and runs from it', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 's3worker-compile-cache-'));
    try {
      // No NODE_COMPILE_CACHE (which would turn Node's cache on by itself): the CLI turns it on.
      const env = { TMPDIR: tmp, NODE_COMPILE_CACHE: '' };
      const first = await runCli(['jobs'], { env });
      expect(first.code).toBe(0);
      const files = readdirSync(join(tmp, 'node-compile-cache'), {
        recursive: true,
        withFileTypes: true,
      }).filter((f) => f.isFile());
      // One entry per module compiled: the SDK's, the CLI's.
      expect(files.length).toBeGreaterThan(100);
      const again = await runCli(['jobs'], { env });
      expect({ code: again.code, stdout: again.stdout }).toEqual({ code: 0, stdout: first.stdout });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('jobs lists each job with its one-line description', async () => {
    const r = await runCli(['jobs']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`^stream-transform +${ObjectTransformJob.description.slice(0, 30)}`, 'm'),
    );
    const withHandler = await runCli(['jobs', '--json', '--handler', ECHO]);
    expect(JSON.parse(withHandler.stdout)).toContainEqual({
      name: 'echo-config',
      description: 'test job: logs its config',
    });
  });

  it('run <job> --help lists every option of the job and of the runtime, with defaults and env names', async () => {
    const r = await runCli(['run', 'stream-transform', '--help']);
    expect(r.code).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    for (const field of [
      ...describeFields(ObjectTransformJob.configSchema),
      ...describeFields(runtimeOptionsSchema),
    ]) {
      expect(help, field.key).toContain(field.flag);
      expect(help, field.key).toContain(`env: ${field.env}`);
      if (field.defaultText !== undefined) {
        expect(help, field.key).toContain(`default: ${field.defaultText}`);
      }
    }
    expect(help).toContain('--part-size <size>');
    expect(help).toContain('default: 8 MiB; env: S3WORKER_PART_SIZE');
    expect(help).toContain('--drain-timeout <duration>');
    expect(help).toContain('default: 25s; env: S3WORKER_DRAIN_TIMEOUT');
  });

  it('run --help without a job lists the jobs; every command has --help', async () => {
    const r = await runCli(['run', '--help']);
    expect(r.code).toBe(0);
    // Every built-in job, one per line, in name order.
    expect(r.stdout).toMatch(
      /Jobs:\n {2}db-backup\b[^\n]*\n {2}db-restore\b[^\n]*\n {2}enqueue\b[^\n]*\n {2}ship-logs\b[^\n]*\n {2}stream-transform\b/,
    );
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    const commands = [...top.stdout.split('Commands:')[1]!.matchAll(/^ {2}([a-z][\w-]*)/gm)].map(
      (m) => m[1]!,
    );
    expect(commands).toEqual(expect.arrayContaining(['run', 'jobs']));
    for (const command of commands) {
      const h = await runCli([command, '--help']);
      expect(h.code, command).toBe(0);
      expect(h.stdout, command).toMatch(new RegExp(`^Usage: s3worker ${command}`));
    }
  });

  it('a command that fails with an s3worker error prints it and exits with its code', async () => {
    const r = await runCli(['jobs', '--handler', './no/such/module.mjs']);
    expect(r.code).toBe(ExitCode.Config);
    expect(r.stderr).toMatch(/^s3worker: invalid configuration:\n {2}- handler: cannot load/);
    expect(r.stderr).toContain('→ point --handler at a built ES module');
  });

  it('an unknown command is a usage error (exit code Config)', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(ExitCode.Config);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });
});

describe('an invalid config makes no S3 request', () => {
  let server: Server;
  let requests = 0;
  let endpoint: string;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      requests++;
      res
        .writeHead(500, { 'content-type': 'application/xml' })
        .end('<Error><Code>InternalError</Code><Message>counting server</Message></Error>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('lists every problem, exits with Config, and the endpoint sees zero requests', async () => {
    requests = 0;
    const r = await runCli(
      [
        'run',
        'stream-transform',
        '--input',
        's3://Not_A_Bucket/in',
        '--output',
        'ftp://out/x',
        '--concurrency',
        '-1',
        '--part-size',
        '1MiB',
        '--endpoint',
        endpoint,
      ],
      { env: awsEnv({ S3WORKER_ENDPOINT: endpoint }) },
    );
    expect(r.code).toBe(ExitCode.Config);
    const error = r.logs.find((l) => l.level === 'error');
    expect(error?.code).toBe('CONFIG_INVALID');
    const paths = ((error?.issues ?? []) as Array<{ path: string }>).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['input', 'output', 'concurrency', 'partSize']));
    expect(String(error?.msg)).toMatch(/partSize: must be at least 5 MiB.*from flag --part-size/);
    expect(requests).toBe(0);
  });

  it('an unknown job lists the known ones and makes no request either', async () => {
    requests = 0;
    const r = await runCli(['run', 'stream-transfrom', '--endpoint', endpoint], {
      env: awsEnv({ S3WORKER_ENDPOINT: endpoint }),
    });
    expect(r.code).toBe(ExitCode.Config);
    expect(r.stdout).toContain(
      'unknown job \\"stream-transfrom\\"; known jobs: db-backup, db-restore, enqueue, ship-logs, stream-transform',
    );
    expect(requests).toBe(0);
  });

  it('(control) a valid config does reach the endpoint, so zero above means something', async () => {
    requests = 0;
    const r = await runCli(
      [
        'run',
        'stream-transform',
        '--input',
        's3://in-bucket/x',
        '--output',
        's3://out-bucket/y',
        '--max-attempts',
        '1',
        '--endpoint',
        endpoint,
      ],
      { env: awsEnv({ S3WORKER_ENDPOINT: endpoint }) },
    );
    expect(r.code).not.toBe(ExitCode.Config);
    expect(requests).toBeGreaterThan(0);
  });
});

describe('config sources through the CLI', () => {
  it('flag > env > file > default, from a local config file whose handler is relative to it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 's3worker-cli-'));
    try {
      mkdirSync(join(dir, 'jobs'));
      writeFileSync(
        join(dir, 'jobs/echo.mjs'),
        `export { default } from ${JSON.stringify(ECHO)};\n`,
      );
      writeFileSync(
        join(dir, 'config.json'),
        JSON.stringify({
          job: 'echo-config',
          handler: './jobs/echo.mjs',
          name: 'file',
          count: 3,
          wait: '2s',
        }),
      );
      const r = await runCli(['run', '--config', join(dir, 'config.json'), '--name', 'flag'], {
        env: awsEnv({ S3WORKER_NAME: 'env', S3WORKER_COUNT: '4', S3WORKER_INCLUDE: 'a/*,b/*' }),
        cwd: tmpdir(),
      });
      expect(r.code, r.stdout).toBe(0);
      expect(r.logs.find((l) => l.msg === 'echo config')?.config).toEqual({
        name: 'flag',
        count: 4,
        partSize: 8 * 1024 * 1024,
        wait: 2000,
        verbose: false,
        include: ['a/*', 'b/*'],
        metadata: {},
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads an s3:// config file with the task credentials', async () => {
    const admin = adminClient(s3);
    const bucket = await createTestBucket(admin, 'cli-config');
    try {
      await admin.send(
        new PutObjectCommand({
          Bucket: bucket.name,
          Key: 'conf/echo.json',
          Body: JSON.stringify({ name: 'from-s3', partSize: '16MiB', metadata: { team: 'data' } }),
        }),
      );
      const r = await runCli(
        ['run', 'echo-config', '--handler', ECHO, '--config', `s3://${bucket.name}/conf/echo.json`],
        { env: awsEnv() },
      );
      expect(r.code, r.stdout).toBe(0);
      expect(r.logs.find((l) => l.msg === 'echo config')?.config).toMatchObject({
        name: 'from-s3',
        partSize: 16 * 1024 * 1024,
        metadata: { team: 'data' },
      });
    } finally {
      await bucket.remove();
      admin.destroy();
    }
  });

  it('a handler module that exports no job class is a config error', async () => {
    const r = await runCli(['run', '--handler', join(ROOT, 'test/support/run-cli.ts')], {
      env: awsEnv(),
    });
    expect(r.code).toBe(ExitCode.Config);
    expect(r.stdout).toMatch(/handler: .*(exports no job class|cannot load)/);
  });
});
