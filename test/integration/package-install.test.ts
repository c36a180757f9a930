/**
 * A replay of the image build without Docker: the Dockerfile's build stage packs the package
 * and installs it with scripts/install-package.mjs (production dependencies from the lockfile);
 * this test runs those same two steps into a temp folder, then runs the installed `s3worker`
 * bin against MinIO with credentials in the environment only, as `docker run -e ...` would.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureBuilt, ROOT } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';

const exec = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  file: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<Result> {
  try {
    const out = await exec(file, args, { env, cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout: out.stdout, stderr: out.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    };
  }
}

describe('the packed package, installed as the image installs it', () => {
  const servers = inject('servers');
  let dir: string;
  let prefix: string;
  let bin: string;
  let admin: S3Client;
  let bucket: { name: string; remove: () => Promise<void> };
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  /** What `docker run -e AWS_...` gives the container: these variables and nothing of this shell. */
  const dockerEnv = () => ({
    PATH: process.env.PATH ?? '',
    AWS_ACCESS_KEY_ID: servers.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: servers.s3.secretAccessKey,
    AWS_ENDPOINT_URL_S3: servers.s3.endpoint,
    AWS_REGION: servers.s3.region,
    AWS_EC2_METADATA_DISABLED: 'true',
    NODE_ENV: 'production',
    S3WORKER_TMPDIR: join(dir, 'scratch'),
  });

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 's3worker-image-'));
    prefix = join(dir, 'opt', 's3worker');
    // The image makes its scratch folder (/tmp/s3worker) at build time; so does the replay.
    mkdirSync(join(dir, 'scratch'));
    const env = { ...process.env } as Record<string, string>;
    const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], env, ROOT);
    expect(packed.code, packed.stderr).toBe(0);
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    const installed = await run(
      process.execPath,
      [
        join(ROOT, 'scripts/install-package.mjs'),
        join(dir, filename),
        prefix,
        join(ROOT, 'package-lock.json'),
      ],
      env,
      dir,
    );
    expect(installed.code, installed.stderr).toBe(0);
    bin = join(prefix, 'node_modules', '.bin', 's3worker');
    admin = adminClient(servers.s3);
    bucket = await createTestBucket(admin, 'image');
  }, 300_000);

  afterAll(async () => {
    await bucket?.remove();
    admin?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ships the built code and production dependencies only', () => {
    const pkgDir = join(prefix, 'node_modules', 's3worker');
    expect(existsSync(join(pkgDir, 'dist', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(pkgDir, 'src'))).toBe(false);
    expect(existsSync(join(pkgDir, 'test'))).toBe(false);
    const modules = join(pkgDir, 'node_modules');
    const present = (name: string) => existsSync(join(modules, name));
    for (const dev of Object.keys(pkg.devDependencies)) expect(present(dev), dev).toBe(false);
    for (const dep of Object.keys(pkg.dependencies)) expect(present(dep), dep).toBe(true);
    expect(existsSync(join(pkgDir, 'package-lock.json'))).toBe(false);
    expect(statSync(join(pkgDir, 'dist', 'cli', 'main.js')).mode & 0o111).not.toBe(0);
  });

  it('runs the installed bin: --version', async () => {
    const r = await run(bin, ['--version'], dockerEnv(), dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('runs stream-transform against MinIO with env credentials, then reports healthy (done)', async () => {
    await admin.send(
      new PutObjectCommand({ Bucket: bucket.name, Key: 'in/hello.txt', Body: 'hello, image\n' }),
    );
    const r = await run(
      bin,
      [
        'run',
        'stream-transform',
        '--input',
        `s3://${bucket.name}/in/`,
        '--output',
        `s3://${bucket.name}/out/`,
      ],
      { ...dockerEnv(), S3WORKER_LOG_FORMAT: 'json' },
      dir,
    );
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('"credentialSource":"env"');
    expect(`${r.stdout}${r.stderr}`).not.toContain(servers.s3.secretAccessKey);
    const out = await admin.send(
      new GetObjectCommand({ Bucket: bucket.name, Key: 'out/hello.txt' }),
    );
    expect(await out.Body?.transformToString()).toBe('hello, image\n');

    const health = await run(bin, ['healthcheck'], dockerEnv(), dir);
    expect(health.code, health.stdout).toBe(0);
    expect(health.stdout).toMatch(/^healthy: stream-transform run .* is done/);
  });
});
