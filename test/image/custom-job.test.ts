/**
 * examples/custom-job as its README builds and runs it: its Dockerfile built FROM the s3worker
 * image under test (with the engine and flags of scripts/build-image.sh), then its job run in
 * that image against MinIO — by the image's own S3WORKER_JOB and S3WORKER_HANDLER, with
 * `--handler` and its own `--delimiter`, and from its config.json.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import {
  MORE,
  MORE_NDJSON,
  PEOPLE,
  PEOPLE_RECORDS,
} from '../../examples/custom-job/test/samples.js';
import { ExitCode } from '../../src/errors.js';
import { ROOT } from '../support/run-cli.js';
import { useTestBucket } from '../support/test-bucket.js';
import {
  containerEngine,
  type EngineResult,
  engine,
  IMAGE,
  runImage,
} from './support/container-engine.js';
import { keysFromEnvironment, readOnlyRoot, SCRATCH, scratchFolder } from './support/worker-run.js';

const servers = inject('servers');
const bucket = useTestBucket(servers.s3, 'img-custom');
const EXAMPLE = join(ROOT, 'examples', 'custom-job');
/** Where the example's Dockerfile puts the job. */
const JOB_DIR = '/opt/s3worker/jobs/csv-to-ndjson';
const TAG = `localhost/s3worker-test-custom-job:${process.pid}`;

/**
 * The base of the example's build stage, as scripts/build-image.sh chooses it without pulling:
 * the Dockerfile's NODE_IMAGE where the engine has it, else the stand-in base the s3worker image
 * was built on (scripts/image-base.sh).
 */
async function buildBase(): Promise<string> {
  const dockerfile = readFileSync(join(EXAMPLE, 'Dockerfile'), 'utf8');
  const official = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
  const standIn = execFileSync(join(ROOT, 'scripts', 'image-base.sh'), ['tag'], {
    encoding: 'utf8',
  }).trim();
  const candidates = [...(official !== undefined ? [official] : []), standIn];
  for (const image of candidates) {
    const found = await engine(['image', 'inspect', '--format', '{{.Id}}', image]);
    if (found.code === 0) return image;
  }
  throw new Error(
    `none of ${candidates.join(', ')} is in ${containerEngine().name}'s storage: build the s3worker image first (npm run image)`,
  );
}

const output = (r: EngineResult) => `${r.stdout}\n${r.stderr}`.slice(-4000);

/** `run ...` in the example's image: read-only root, scratch volume, S3 keys by name. */
function runJob(args: readonly string[], mounts: readonly string[] = []): Promise<EngineResult> {
  const keys = keysFromEnvironment(servers.s3);
  return runImage(
    [
      ...readOnlyRoot(),
      '-v',
      `${scratchFolder()}:${SCRATCH}`,
      ...mounts,
      ...keys.flags,
      '-e',
      `S3WORKER_ENDPOINT=${servers.s3.endpoint}`,
    ],
    ['run', ...args, '--log-format', 'json'],
    { image: TAG, env: keys.env },
  );
}

async function read(key: string): Promise<{ body: Buffer; type?: string }> {
  const out = await bucket.admin.send(new GetObjectCommand({ Bucket: bucket.name, Key: key }));
  return {
    body: Buffer.from(await out.Body!.transformToByteArray()),
    ...(out.ContentType ? { type: out.ContentType } : {}),
  };
}

async function keysUnder(prefix: string): Promise<string[]> {
  const listed = await bucket.admin.send(
    new ListObjectsV2Command({ Bucket: bucket.name, Prefix: prefix }),
  );
  return (listed.Contents ?? []).map((o) => o.Key!).sort();
}

const ndjson = (body: Buffer) =>
  body
    .toString('utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);

describe('examples/custom-job built FROM the image', () => {
  beforeAll(async () => {
    const e = containerEngine();
    // scripts/build-image.sh's flags: runc comes with the engine's global flags here.
    const flags =
      e.name === 'podman'
        ? [
            '--ulimit',
            'nofile=4096:4096',
            '--ulimit',
            'nproc=4096:4096',
            '--format',
            'docker',
            '--pull=missing',
          ]
        : [];
    const build = await engine(
      [
        'build',
        ...flags,
        '--build-arg',
        `S3WORKER_IMAGE=${IMAGE}`,
        '--build-arg',
        `NODE_IMAGE=${await buildBase()}`,
        '--tag',
        TAG,
        '--file',
        join(EXAMPLE, 'Dockerfile'),
        EXAMPLE,
      ],
      { timeoutMs: 600_000 },
    );
    if (build.code !== 0) throw new Error(`the example image did not build:\n${output(build)}`);

    const put = (Key: string, Body: string) =>
      bucket.admin.send(new PutObjectCommand({ Bucket: bucket.name, Key, Body }));
    await put('csv/people.csv', PEOPLE);
    await put('csv/notes.txt', 'not a csv');
    await put('semi/more.csv', MORE);
  }, 660_000);

  afterAll(async () => {
    await engine(['rmi', '-f', TAG]);
  });

  it('runs its job by the image’s own S3WORKER_JOB and S3WORKER_HANDLER: `run --input --output`, .csv keys only', async () => {
    const run = await runJob([
      '--input',
      `s3://${bucket.name}/csv/`,
      '--output',
      `s3://${bucket.name}/plain-out/`,
    ]);
    expect(run.code, output(run)).toBe(ExitCode.Success);
    expect(await keysUnder('plain-out/')).toEqual(['plain-out/people.ndjson']);
    const out = await read('plain-out/people.ndjson');
    expect(out.type).toBe('application/x-ndjson');
    expect(ndjson(out.body)).toEqual(PEOPLE_RECORDS);
  });

  it('runs with --handler and its own --delimiter option, which its --help lists', async () => {
    const handler = ['csv-to-ndjson', '--handler', `${JOB_DIR}/dist/csv-to-ndjson-job.js`];
    const help = await runJob([...handler, '--help']);
    expect(help.code, output(help)).toBe(ExitCode.Success);
    expect(help.stdout).toMatch(/--delimiter/);

    const run = await runJob([
      ...handler,
      '--input',
      `s3://${bucket.name}/semi/`,
      '--output',
      `s3://${bucket.name}/semi-out/`,
      '--delimiter',
      ';',
    ]);
    expect(run.code, output(run)).toBe(ExitCode.Success);
    const out = await read('semi-out/more.ndjson');
    expect(out.type).toBe('application/x-ndjson');
    expect(out.body.toString('utf8')).toBe(MORE_NDJSON);
  });

  it('runs from its config.json beside the job (handler relative to it, gzip after the conversion)', async () => {
    const config = JSON.parse(readFileSync(join(EXAMPLE, 'config.json'), 'utf8'));
    config.input = `s3://${bucket.name}/csv/`;
    config.output = `s3://${bucket.name}/ndjson/`;
    const dir = mkdtempSync(join(tmpdir(), 's3worker-image-config-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config), { mode: 0o644 });

    const run = await runJob(
      ['--config', `${JOB_DIR}/config.json`],
      ['-v', `${join(dir, 'config.json')}:${JOB_DIR}/config.json:ro`],
    );
    expect(run.code, output(run)).toBe(ExitCode.Success);
    expect(await keysUnder('ndjson/')).toEqual(['ndjson/people.ndjson.gz']);
    expect(ndjson(gunzipSync((await read('ndjson/people.ndjson.gz')).body))).toEqual(
      PEOPLE_RECORDS,
    );
  });
});
