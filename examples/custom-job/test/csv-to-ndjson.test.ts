/**
 * The custom-job example end to end, laid out as its Dockerfile lays it out: s3worker at
 * <opt>/node_modules/s3worker (here a link to this repository, built), the example compiled by
 * its own tsconfig at <opt>/jobs/csv-to-ndjson, then run through the CLI's handler loading
 * against MinIO.
 */
import { execFile } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../../src/errors.js';
import type { PolicyDocument } from '../../../src/policy/policy-document.js';
import { ensureBuilt, ROOT, runCli } from '../../../test/support/run-cli.js';
import { adminClient, createTestBucket } from '../../../test/support/s3.js';
import { MORE, MORE_NDJSON, PEOPLE, PEOPLE_RECORDS } from './samples.js';

const exec = promisify(execFile);
const EXAMPLE = join(ROOT, 'examples', 'custom-job');

describe('examples/custom-job (csv-to-ndjson)', () => {
  const servers = inject('servers');
  let dir: string;
  let jobDir: string;
  let admin: S3Client;
  let bucket: { name: string; remove: () => Promise<void> };
  const env = () => ({
    AWS_ACCESS_KEY_ID: servers.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: servers.s3.secretAccessKey,
    AWS_ENDPOINT_URL_S3: servers.s3.endpoint,
    AWS_REGION: servers.s3.region,
    AWS_EC2_METADATA_DISABLED: 'true',
    S3WORKER_TMPDIR: dir,
  });
  const read = async (key: string) => {
    const out = await admin.send(new GetObjectCommand({ Bucket: bucket.name, Key: key }));
    return { body: Buffer.from(await out.Body!.transformToByteArray()), type: out.ContentType };
  };

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 's3worker-example-'));
    const opt = join(dir, 'opt', 's3worker');
    mkdirSync(join(opt, 'node_modules'), { recursive: true });
    symlinkSync(ROOT, join(opt, 'node_modules', 's3worker'));
    jobDir = join(opt, 'jobs', 'csv-to-ndjson');
    for (const part of ['package.json', 'tsconfig.json', 'config.json', 'src']) {
      cpSync(join(EXAMPLE, part), join(jobDir, part), { recursive: true });
    }
    // The Dockerfile's `RUN tsc -p tsconfig.json`, with this repository's TypeScript.
    await exec(process.execPath, [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(jobDir, 'tsconfig.json'),
    ]);

    admin = adminClient(servers.s3);
    bucket = await createTestBucket(admin, 'example');
    const put = (Key: string, Body: string) =>
      admin.send(new PutObjectCommand({ Bucket: bucket.name, Key, Body }));
    await put('csv/people.csv', PEOPLE);
    await put('csv/notes.txt', 'not a csv');
    await put('semi/more.csv', MORE);
  }, 180_000);

  afterAll(async () => {
    await bucket?.remove();
    admin?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs from its config.json: the handler named there, gzip after the conversion', async () => {
    const config = JSON.parse(readFileSync(join(jobDir, 'config.json'), 'utf8'));
    config.input = `s3://${bucket.name}/csv/`;
    config.output = `s3://${bucket.name}/ndjson/`;
    writeFileSync(join(jobDir, 'config.json'), JSON.stringify(config));

    const run = await runCli(['run', '--config', join(jobDir, 'config.json')], {
      env: env(),
      cwd: dir,
    });
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(ExitCode.Success);

    const listed = await admin.send(
      new ListObjectsV2Command({ Bucket: bucket.name, Prefix: 'ndjson/' }),
    );
    expect((listed.Contents ?? []).map((o) => o.Key)).toEqual(['ndjson/people.ndjson.gz']);
    const lines = gunzipSync((await read('ndjson/people.ndjson.gz')).body)
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual(PEOPLE_RECORDS);
  });

  it('runs with --handler and its own --delimiter option, CRLF input, NDJSON content type', async () => {
    const handler = join(jobDir, 'dist', 'csv-to-ndjson-job.js');
    const run = await runCli(
      [
        'run',
        'csv-to-ndjson',
        '--handler',
        handler,
        '--input',
        `s3://${bucket.name}/semi/`,
        '--output',
        `s3://${bucket.name}/semi-out/`,
        '--delimiter',
        ';',
      ],
      { env: env(), cwd: dir },
    );
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(ExitCode.Success);
    const out = await read('semi-out/more.ndjson');
    expect(out.type).toBe('application/x-ndjson');
    expect(out.body.toString('utf8')).toBe(MORE_NDJSON);
  });

  it('gets its least-privilege policy from `s3worker policy` like a built-in job', async () => {
    const handler = join(jobDir, 'dist', 'csv-to-ndjson-job.js');
    const args = ['--input', `s3://${bucket.name}/csv/`, '--output', `s3://${bucket.name}/ndjson/`];
    const custom = await runCli(['policy', 'csv-to-ndjson', '--handler', handler, ...args], {
      cwd: dir,
    });
    const builtin = await runCli(['policy', 'stream-transform', ...args], { cwd: dir });
    expect(custom.code, custom.stderr).toBe(0);
    expect(JSON.parse(custom.stdout) as PolicyDocument).toEqual(JSON.parse(builtin.stdout));
  });

  it('lists its option in `run <job> --help`, with the env name', async () => {
    const handler = join(jobDir, 'dist', 'csv-to-ndjson-job.js');
    const help = await runCli(['run', 'csv-to-ndjson', '--handler', handler, '--help'], {
      cwd: dir,
    });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--delimiter');
    expect(help.stdout).toContain('S3WORKER_DELIMITER');
  });
});
