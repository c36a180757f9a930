import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { getBytes, listKeys, putObjects } from '../fixtures/stream-transform/harness.js';
import {
  createTaskRoleMinter,
  type EcsCredentialsEndpoint,
  startEcsCredentialsEndpoint,
} from '../support/ecs-credentials-endpoint.js';
import { emfProblems, metricLines, metricSum } from '../support/emf.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import type { PolicyDocument } from '../support/minio-admin.js';
import { adminClient, createTestBucket } from '../support/s3.js';
import {
  FARGATE_TASK,
  serveTaskMetadata,
  type TaskMetadataEndpoint,
} from '../support/task-metadata-endpoint.js';
import { runImage } from './support/container-engine.js';
import { gzipArgs, IMAGE_UID, logLine, logLines, passByName } from './support/worker-run.js';

const MiB = 1024 * 1024;
/** Where the task's token file is mounted (read-only) in the container. */
const TOKEN_PATH = '/var/run/secrets/s3worker/token';

describe('the ECS task role in the image: full URI, token file, credentials minted by MinIO STS', () => {
  const { s3 } = inject('servers');
  const admin = adminClient(s3);
  const token = `token-${randomBytes(12).toString('hex')}`;
  let bucket: { name: string; remove: () => Promise<void> };
  let other: { name: string; remove: () => Promise<void> };
  let role: Awaited<ReturnType<typeof createTaskRoleMinter>>;
  let endpoint: EcsCredentialsEndpoint;
  let proxy: FaultProxy;
  let metadata: TaskMetadataEndpoint;
  let dir: string;
  let tokenFile: string;

  /**
   * What the task's environment holds: the credentials endpoint and the token file, no key,
   * and the task metadata endpoint ECS sets for every container (so metrics are on by default).
   */
  const taskEnv = () => ({
    AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.url,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: TOKEN_PATH,
    AWS_REGION: s3.region,
    ECS_CONTAINER_METADATA_URI_V4: metadata.uri,
  });
  const taskFlags = () => [
    ...passByName(Object.keys(taskEnv())),
    '-v',
    `${tokenFile}:${TOKEN_PATH}:ro`,
  ];
  /** Every secret the test handed out or knows: none may appear in the container's output. */
  const secrets = () => [
    token,
    s3.secretAccessKey,
    ...role.minted.flatMap((c) => [c.accessKeyId, c.secretAccessKey, c.sessionToken]),
  ];

  beforeAll(async () => {
    bucket = await createTestBucket(admin, 'img-role');
    other = await createTestBucket(admin, 'img-role-other');
    await admin.send(new PutObjectCommand({ Bucket: other.name, Key: 'in/secret.txt', Body: 'x' }));
    // The task role holds exactly what `s3worker policy` says this job needs, as the docs tell
    // users to set it up.
    const policy = await runImage(
      [],
      [
        'policy',
        'stream-transform',
        '--input',
        `s3://${bucket.name}/in/`,
        '--output',
        `s3://${bucket.name}/out/`,
      ],
    );
    expect(policy.code, policy.stderr).toBe(0);
    role = await createTaskRoleMinter(s3, JSON.parse(policy.stdout) as PolicyDocument);
    dir = mkdtempSync(join(tmpdir(), 's3worker-image-role-'));
    tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, token);
    // Readable by the image's user only, as the agent's token file is readable by the task's.
    chownSync(tokenFile, IMAGE_UID, IMAGE_UID);
    chmodSync(tokenFile, 0o400);
    // The SDK refreshes credentials that expire within 5 minutes: reported 5 min + 2 s, each set
    // is stale 2 s after it was handed out, while MinIO keeps it valid for 15 minutes.
    endpoint = await startEcsCredentialsEndpoint({
      token,
      mint: role.mint,
      reportedLifetimeMs: 5 * 60_000 + 2_000,
    });
    proxy = await startFaultProxy(s3.endpoint);
    metadata = await serveTaskMetadata();
  });

  afterAll(async () => {
    await proxy?.close();
    await metadata?.close();
    await endpoint?.close();
    await bucket?.remove();
    await other?.remove();
    await role?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
    admin.destroy();
  });

  it('runs with credentials rotated mid-run: several sets handed out, parts signed by more than one', async () => {
    const inputs = [
      // 6 parts of 5 MiB, one at a time, each held 700 ms by the proxy: the upload outlasts
      // several 2-second credential lifetimes on any machine.
      { key: 'in/big.bin', body: randomBytes(30 * MiB) },
      { key: 'in/a.log', body: Buffer.from('line\n'.repeat(1000)) },
      { key: 'in/b.log', body: Buffer.from('other line\n'.repeat(1000)) },
    ];
    await putObjects(admin, bucket.name, inputs);
    proxy.setRule((r) => (r.action === 'UploadPart' ? { kind: 'delay', ms: 700 } : undefined));
    const fetchesBefore = endpoint.log.length;
    try {
      const run = await runImage(
        taskFlags(),
        gzipArgs(`s3://${bucket.name}/in/`, `s3://${bucket.name}/out/`, [
          '--endpoint',
          proxy.endpoint,
          '--part-size',
          '5MiB',
          '--queue-size',
          '1',
        ]),
        { env: taskEnv(), timeoutMs: 170_000 },
      );
      expect(run.code, run.stdout + run.stderr).toBe(ExitCode.Success);
      expect(logLine(run.stdout, 'aws credentials resolved')).toMatchObject({
        credentialSource: 'container-full-uri',
      });
      expect(logLine(run.stdout, 'summary')).toMatchObject({
        objects: { done: inputs.length, failed: 0 },
      });
      // The endpoint was asked again as the credentials went stale, and answered each time.
      const served = endpoint.log.filter((e) => e.status === 200);
      expect(endpoint.log.every((e) => e.status === 200)).toBe(true);
      expect(served.length).toBeGreaterThan(1);
      const handedOut = new Set(served.map((e) => e.accessKeyId));
      const partSigners = new Set(
        proxy.answers.filter((a) => a.action === 'UploadPart').map((a) => a.accessKeyId),
      );
      expect(partSigners.size).toBeGreaterThan(1);
      for (const signer of partSigners) expect(handedOut.has(signer)).toBe(true);
      // On ECS the log lines are metrics too: valid EMF, under the task's family and cluster,
      // and every fetch after the first counted as a refresh.
      const lines = logLines(run.stdout);
      expect(metricLines(lines).length).toBeGreaterThan(0);
      for (const line of metricLines(lines)) expect(emfProblems(line)).toEqual([]);
      expect(logLine(run.stdout, 'summary')).toMatchObject({
        Job: 'stream-transform',
        Family: FARGATE_TASK.Family,
        Success: 1,
        ObjectsDone: inputs.length,
      });
      expect(metricSum(lines, 'CredentialRefreshes')).toBe(endpoint.log.length - fetchesBefore - 1);
      expect(
        proxy.answers.filter((a) => a.action === 'UploadPart').every((a) => a.status === 200),
      ).toBe(true);
      for (const input of inputs) {
        const out = await getBytes(admin, bucket.name, `out/${input.key.slice(3)}.gz`);
        expect(gunzipSync(out).equals(input.body), input.key).toBe(true);
      }
      const leaks = secrets().filter((s) => run.stdout.includes(s) || run.stderr.includes(s));
      // A count only: printing a leaked value would leak it again.
      expect(leaks.length).toBe(0);
    } finally {
      proxy.setRule(undefined);
    }
  });

  it('is denied a bucket outside the policy: exit AccessDenied, naming action and bucket', async () => {
    const run = await runImage(
      taskFlags(),
      gzipArgs(`s3://${other.name}/in/`, `s3://${bucket.name}/out-denied/`, [
        '--endpoint',
        s3.endpoint,
      ]),
      { env: taskEnv() },
    );
    expect(run.code, run.stdout + run.stderr).toBe(ExitCode.AccessDenied);
    const error = logLine(run.stdout, `access denied: s3:ListBucket on s3://${other.name}/in/`);
    expect(error, run.stdout).toMatchObject({ code: 'ACCESS_DENIED', level: 'error' });
    expect(logLine(run.stdout, 'summary')).toMatchObject({
      Success: 0,
      ExitCode: ExitCode.AccessDenied,
    });
    expect(await listKeys(admin, bucket.name, 'out-denied/')).toEqual([]);
    const leaks = secrets().filter((s) => run.stdout.includes(s) || run.stderr.includes(s));
    expect(leaks.length).toBe(0);
  });
});
