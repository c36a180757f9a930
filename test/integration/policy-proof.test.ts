/**
 * Proof that each generated policy is sufficient and minimal, job by job (add a row to PROOFS
 * for each built-in job): a MinIO user holding exactly `s3worker policy <job> ...` runs the job
 * through the CLI with env credentials and succeeds; then, for every action in the policy, a
 * user holding the policy minus that one action runs it again and must fail in the way the row
 * says, naming the action. A policy action without a row fails the test, so a job cannot grow
 * its permissions without proving the new one is needed.
 *
 * What MinIO cannot prove here: s3:PutObjectTagging on uploads that carry tags (MinIO does not
 * require it), s3:ListBucket on the output prefix (MinIO answers a HeadObject of a missing key
 * 404 without it, where S3 answers 403; the run shows its fallback instead, see the rows), KMS
 * statements (no KMS is configured and MinIO's policies have
 * no kms: actions; SSE-KMS is covered by unit tests only), IAM policy variables such as `${*}`
 * used to escape wildcards in a prefix, and the trust policy's `aws:SourceAccount` /
 * `aws:SourceArn` (there is no ECS), and SQS statements (ElasticMQ has no IAM: they are left
 * out of the MinIO user's policy, and their rows only keep the action accounted for; the SQS
 * probes of test/integration/doctor-queue.test.ts and the policy unit tests cover them). MinIO
 * does evaluate `s3:prefix` on ListBucket and `aws:SecureTransport`; both are exercised below.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import type { PolicyDocument } from '../../src/policy/policy-document.js';
import {
  type PolicyDocument as AdminPolicyDocument,
  createUserWithPolicy,
  type Keys,
} from '../support/minio-admin.js';
import { runCli } from '../support/run-cli.js';
import { adminClient, createTestBucket } from '../support/s3.js';
import type { S3Server } from '../support/servers.js';
import { createTestQueue, queueCounts, sqsClient, type TestQueue } from '../support/sqs.js';

/** Bucket roles the rows use (add one when a job needs it); each gets a unique test bucket. */
type Buckets = Record<'in' | 'out', string>;

/** How a run without one action must end. */
interface Without {
  /** Exit codes accepted: AccessDenied (12) for a job-level failure, ObjectsFailed (3) per object. */
  exitCodes: number[];
  /** What the run's output must say (the action it lacked). */
  says: RegExp;
  /** Extra evidence the action was needed (e.g. the stale upload is still there). */
  check?: (admin: S3Client, b: Buckets) => Promise<void>;
}

interface Proof {
  job: string;
  /** Bucket roles this row needs. */
  buckets: Array<keyof Buckets>;
  /** Job options, as on the command line. */
  args: (b: Buckets) => string[];
  /** Objects the job reads, created once. */
  arrange: (admin: S3Client, b: Buckets) => Promise<void>;
  /**
   * Run the job once with the server's root keys after `arrange`, so `reset` can keep part of
   * its output: every later run is then a re-run that resumes (the path a killed task takes).
   */
  previousRun: boolean;
  /** Before every run: back to the same starting state (no outputs, a stale upload to sweep). */
  reset: (admin: S3Client, b: Buckets) => Promise<void>;
  /** After the run with the full policy; `logs` are its JSON log lines. */
  succeeded: (admin: S3Client, b: Buckets, logs: Array<Record<string, unknown>>) => Promise<void>;
  /** Requests the full policy must refuse: anything outside the job's buckets and prefixes. */
  outside: (user: S3Client, b: Buckets) => Array<[string, () => Promise<unknown>]>;
  /** One row per action the policy grants, keyed `Sid action` (Sids are stable). */
  without: Record<string, Without>;
}

const MiB = 1024 * 1024;
const STALE_KEY = 'gz/stale-upload.bin.gz';

/**
 * Incomplete uploads under `prefix` (default gz/). Listed without a Prefix and filtered here: MinIO's
 * ListMultipartUploads with a folder prefix can miss an upload created moments before.
 */
async function staleUploads(admin: S3Client, bucket: string, prefix = 'gz/'): Promise<number> {
  const out = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return (out.Uploads ?? []).filter((u) => u.Key?.startsWith(prefix)).length;
}

/** The enqueue row's queue (ElasticMQ), created by its `arrange`. */
let enqueueQueue: TestQueue | undefined;
const proofSqs = sqsClient(inject('servers').sqs);
afterAll(async () => {
  await enqueueQueue?.remove();
  proofSqs.destroy();
});
const ENQUEUE_CHECKPOINT = 'state/enqueue.json';
/** Messages on the enqueue row's queue when its last run started. */
let enqueueQueueBefore = 0;

/** The ship-logs row's log file and spool (local, not S3). */
const SHIP_LOGS_DIR = mkdtempSync(join(tmpdir(), 's3worker-proof-ship-logs-'));
afterAll(() => rmSync(SHIP_LOGS_DIR, { recursive: true, force: true }));

const PROOFS: Proof[] = [
  {
    job: 'stream-transform',
    buckets: ['in', 'out'],
    // Representative: listing, gzip, a multipart output (6 MiB of random bytes, 5 MiB parts),
    // tags, and a start sweep that must abort an upload a killed task left.
    args: (b) => [
      '--input',
      `s3://${b.in}/raw/`,
      '--output',
      `s3://${b.out}/gz/`,
      '--transform',
      'gzip',
      '--part-size',
      '5MiB',
      '--concurrency',
      '2',
      '--tags',
      'team=data',
      '--sweep-age',
      '1ms',
    ],
    arrange: async (admin, b) => {
      const put = (Key: string, Body: Buffer | string) =>
        admin.send(new PutObjectCommand({ Bucket: b.in, Key, Body }));
      await put('raw/a.txt', 'alpha\n'.repeat(100));
      await put('raw/sub/b.txt', 'beta\n'.repeat(100));
      await put('raw/big.bin', randomBytes(6 * MiB));
      await put('other/secret.txt', 'not for this job');
    },
    previousRun: true,
    // A re-run after a killed task: one output done (kept), the others missing, and the
    // incomplete upload the task left.
    reset: async (admin, b) => {
      const listed = await admin.send(new ListObjectsV2Command({ Bucket: b.out }));
      const objects = (listed.Contents ?? [])
        .map((o) => ({ Key: o.Key! }))
        .filter((o) => o.Key !== 'gz/a.txt.gz');
      if (objects.length > 0) {
        await admin.send(new DeleteObjectsCommand({ Bucket: b.out, Delete: { Objects: objects } }));
      }
      if ((await staleUploads(admin, b.out)) === 0) {
        await admin.send(new CreateMultipartUploadCommand({ Bucket: b.out, Key: STALE_KEY }));
      }
    },
    succeeded: async (admin, b, logs) => {
      // The kept output resumed (skipped), the two missing ones written.
      const summary = logs.find((l) => l.msg === 'summary');
      expect(summary?.objects).toMatchObject({ done: 2, skipped: 1, failed: 0 });
      const listed = await admin.send(new ListObjectsV2Command({ Bucket: b.out }));
      expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([
        'gz/a.txt.gz',
        'gz/big.bin.gz',
        'gz/sub/b.txt.gz',
      ]);
      const tags = await admin.send(
        new GetObjectTaggingCommand({ Bucket: b.out, Key: 'gz/sub/b.txt.gz' }),
      );
      expect(tags.TagSet).toEqual([{ Key: 'team', Value: 'data' }]);
      expect(await staleUploads(admin, b.out)).toBe(0);
    },
    outside: (user, b) => [
      [
        'read outside the input prefix',
        () => user.send(new GetObjectCommand({ Bucket: b.in, Key: 'other/secret.txt' })),
      ],
      [
        'list outside the input prefix',
        () => user.send(new ListObjectsV2Command({ Bucket: b.in, Prefix: 'other/' })),
      ],
      ['list the whole input bucket', () => user.send(new ListObjectsV2Command({ Bucket: b.in }))],
      [
        'write into the input bucket',
        () => user.send(new PutObjectCommand({ Bucket: b.in, Key: 'raw/x', Body: 'x' })),
      ],
      [
        'write outside the output prefix',
        () => user.send(new PutObjectCommand({ Bucket: b.out, Key: 'other/x', Body: 'x' })),
      ],
    ],
    without: {
      'List1 s3:ListBucket': { exitCodes: [ExitCode.AccessDenied], says: /s3:ListBucket/ },
      // Listing the output prefix tells an empty one (nothing to resume) and, on AWS, lets a
      // HeadObject of a missing output answer 404 instead of 403. Without it the job falls back
      // to a HeadObject per object; MinIO answers those 404 without s3:ListBucket, so the run
      // succeeds here where on AWS each object fails with AccessDenied.
      'List2 s3:ListBucket': {
        exitCodes: [ExitCode.Success],
        says: /could not list the output prefix/,
      },
      'Objects1 s3:GetObject': { exitCodes: [ExitCode.ObjectsFailed], says: /s3:GetObject/ },
      'Objects2 s3:GetObject': { exitCodes: [ExitCode.ObjectsFailed], says: /s3:GetObject/ },
      'Objects2 s3:PutObject': { exitCodes: [ExitCode.ObjectsFailed], says: /s3:PutObject/ },
      // AWS requires s3:PutObjectTagging as well as s3:PutObject for a PutObject or
      // CreateMultipartUpload that carries x-amz-tagging; MinIO checks only s3:PutObject, so
      // here the run succeeds and the tags are set anyway. Kept as a row so a MinIO that starts
      // enforcing it turns this into a real proof (the test then fails and this row is updated).
      'Objects2 s3:PutObjectTagging': {
        exitCodes: [ExitCode.Success],
        says: /"exitCode":0/,
        check: async (admin, b) => {
          const tags = await admin.send(
            new GetObjectTaggingCommand({ Bucket: b.out, Key: 'gz/sub/b.txt.gz' }),
          );
          expect(tags.TagSet).toEqual([{ Key: 'team', Value: 'data' }]);
        },
      },
      // The start sweep only warns when it cannot clean up (the run itself needs neither);
      // the upload a killed task left is then still there.
      'Objects2 s3:AbortMultipartUpload': {
        exitCodes: [ExitCode.Success],
        says: /could not sweep incomplete uploads/,
        check: async (admin, b) => expect(await staleUploads(admin, b.out)).toBe(1),
      },
      'Bucket1 s3:ListBucketMultipartUploads': {
        exitCodes: [ExitCode.Success],
        says: /could not sweep incomplete uploads/,
        check: async (admin, b) => expect(await staleUploads(admin, b.out)).toBe(1),
      },
    },
  },
  {
    job: 'ship-logs',
    buckets: ['out'],
    // A log file shipped with --once into logs/, a start sweep that must abort a stale upload,
    // and a key taken by the previous run's batch (a fresh spool numbers from 0 again), which
    // the shipper must tell from its own upload (HeadObject) before picking a new key.
    args: (b) => [
      '--path',
      join(SHIP_LOGS_DIR, 'app.log'),
      '--once',
      '--output',
      `s3://${b.out}/logs/`,
      '--key-template',
      '{seq}{ext}',
      '--spool-dir',
      join(SHIP_LOGS_DIR, 'spool'),
      '--sweep-age',
      '1ms',
    ],
    arrange: async () => {
      writeFileSync(join(SHIP_LOGS_DIR, 'app.log'), 'line one\nline two\n');
    },
    previousRun: true,
    // The previous run's batch stays (logs/0000000000.log.gz); the spool starts empty.
    reset: async (admin, b) => {
      rmSync(join(SHIP_LOGS_DIR, 'spool'), { recursive: true, force: true });
      const listed = await admin.send(new ListObjectsV2Command({ Bucket: b.out }));
      const objects = (listed.Contents ?? [])
        .map((o) => ({ Key: o.Key! }))
        .filter((o) => o.Key !== 'logs/0000000000.log.gz');
      if (objects.length > 0) {
        await admin.send(new DeleteObjectsCommand({ Bucket: b.out, Delete: { Objects: objects } }));
      }
      if ((await staleUploads(admin, b.out, 'logs/')) === 0) {
        await admin.send(
          new CreateMultipartUploadCommand({ Bucket: b.out, Key: 'logs/stale.log.gz' }),
        );
      }
    },
    succeeded: async (admin, b) => {
      const listed = await admin.send(new ListObjectsV2Command({ Bucket: b.out }));
      expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([
        'logs/0000000000.log.gz',
        'logs/0000000001.log.gz',
      ]);
      expect(await staleUploads(admin, b.out, 'logs/')).toBe(0);
    },
    outside: (user, b) => [
      [
        'write outside the output prefix',
        () => user.send(new PutObjectCommand({ Bucket: b.out, Key: 'other/x', Body: 'x' })),
      ],
      [
        'read outside the output prefix',
        () => user.send(new GetObjectCommand({ Bucket: b.out, Key: 'other/x' })),
      ],
      ['list the output bucket', () => user.send(new ListObjectsV2Command({ Bucket: b.out }))],
    ],
    without: {
      'Objects1 s3:PutObject': { exitCodes: [ExitCode.AccessDenied], says: /s3:PutObject/ },
      // Without it a key held by another object cannot be told from this batch's own upload
      // before a crash: the batch goes to a new key anyway (a copy, never a loss).
      'Objects1 s3:GetObject': {
        exitCodes: [ExitCode.Success],
        says: /could not read the existing object at a batch key/,
      },
      'Objects1 s3:AbortMultipartUpload': {
        exitCodes: [ExitCode.Success],
        says: /could not sweep incomplete uploads/,
        check: async (admin, b) => expect(await staleUploads(admin, b.out, 'logs/')).toBe(1),
      },
      'Bucket1 s3:ListBucketMultipartUploads': {
        exitCodes: [ExitCode.Success],
        says: /could not sweep incomplete uploads/,
        check: async (admin, b) => expect(await staleUploads(admin, b.out, 'logs/')).toBe(1),
      },
    },
  },
  {
    job: 'enqueue',
    buckets: ['in', 'out'],
    // A listing of raw/ sent to the queue, with its checkpoint in another bucket.
    args: (b) => [
      '--queue',
      enqueueQueue?.url ?? 'http://127.0.0.1:1/000000000000/not-created-yet',
      '--input',
      `s3://${b.in}/raw/`,
      '--checkpoint',
      `s3://${b.out}/${ENQUEUE_CHECKPOINT}`,
    ],
    arrange: async (admin, b) => {
      enqueueQueue = await createTestQueue(proofSqs);
      const put = (Key: string, Body: string) =>
        admin.send(new PutObjectCommand({ Bucket: b.in, Key, Body }));
      await put('raw/a.txt', 'alpha\n');
      await put('raw/sub/b.txt', 'beta\n');
      await put('other/secret.txt', 'not for this job');
    },
    previousRun: false,
    // Every run starts without a checkpoint (and so sends both objects again).
    reset: async (admin, b) => {
      await admin.send(
        new DeleteObjectsCommand({
          Bucket: b.out,
          Delete: { Objects: [{ Key: ENQUEUE_CHECKPOINT }] },
        }),
      );
      enqueueQueueBefore = (await queueCounts(proofSqs, enqueueQueue!.url)).visible;
    },
    succeeded: async (admin, b, logs) => {
      const summary = logs.find((l) => l.msg === 'summary');
      expect(summary?.objects).toMatchObject({ done: 2, skipped: 0, failed: 0, listed: 2 });
      const checkpoint = await admin.send(
        new GetObjectCommand({ Bucket: b.out, Key: ENQUEUE_CHECKPOINT }),
      );
      expect(JSON.parse(await checkpoint.Body!.transformToString())).toMatchObject({
        complete: true,
        sent: 2,
      });
      const now = (await queueCounts(proofSqs, enqueueQueue!.url)).visible;
      expect(now).toBe(enqueueQueueBefore + 2);
    },
    outside: (user, b) => [
      [
        'read the input objects (the workers do, not enqueue)',
        () => user.send(new GetObjectCommand({ Bucket: b.in, Key: 'raw/a.txt' })),
      ],
      [
        'list outside the input prefix',
        () => user.send(new ListObjectsV2Command({ Bucket: b.in, Prefix: 'other/' })),
      ],
      [
        'write beside the checkpoint',
        () => user.send(new PutObjectCommand({ Bucket: b.out, Key: 'state/other', Body: 'x' })),
      ],
      ['list the checkpoint bucket', () => user.send(new ListObjectsV2Command({ Bucket: b.out }))],
    ],
    without: {
      'List1 s3:ListBucket': { exitCodes: [ExitCode.AccessDenied], says: /s3:ListBucket/ },
      // Reading a checkpoint not written yet: S3 answers 403 without ListBucket on its key,
      // MinIO 404 either way, so here the run succeeds; kept so the action stays accounted for.
      'List2 s3:ListBucket': { exitCodes: [ExitCode.Success], says: /"exitCode":0/ },
      'Objects1 s3:GetObject': { exitCodes: [ExitCode.AccessDenied], says: /s3:GetObject/ },
      // The checkpoint is written before the first message: nothing is sent.
      'Objects1 s3:PutObject': {
        exitCodes: [ExitCode.AccessDenied],
        says: /s3:PutObject/,
        check: async () => {
          const now = (await queueCounts(proofSqs, enqueueQueue!.url)).visible;
          expect(now).toBe(enqueueQueueBefore);
        },
      },
      // ElasticMQ has no IAM: the MinIO policy never held it (see the header).
      'Sqs1 sqs:SendMessage': { exitCodes: [ExitCode.Success], says: /"exitCode":0/ },
    },
  },
];

/**
 * The same document in minio-admin's looser type, its SQS statements left out (MinIO has no SQS,
 * and ElasticMQ no IAM).
 */
function forMinio(policy: PolicyDocument): AdminPolicyDocument {
  const s3Only = policy.Statement.filter(
    (s) => ![s.Action].flat().every((a) => a.startsWith('sqs:')),
  );
  return { ...policy, Statement: s3Only.map((s) => ({ ...s })) };
}

/** The policy with one action taken out of one statement (the statement goes when empty). */
function without(policy: PolicyDocument, sid: string, action: string): PolicyDocument {
  const Statement = policy.Statement.flatMap((s) => {
    if (s.Sid !== sid) return [s];
    const Action = [s.Action].flat().filter((a) => a !== action);
    return Action.length === 0 ? [] : [{ ...s, Action }];
  });
  return { ...policy, Statement };
}

function userClient(s3: S3Server, keys: Keys): S3Client {
  return adminClient(s3, {
    credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey },
    maxAttempts: 1,
  });
}

describe.each(PROOFS)('the generated policy for $job', (proof) => {
  const servers = inject('servers');
  let admin: S3Client;
  const b = {} as Buckets;
  const removers: Array<() => Promise<void>> = [];
  let policy: PolicyDocument;
  let tmp: string;

  /** Runs the job through the CLI with these keys in the environment, exactly as `docker run -e` would. */
  async function runAs(keys: Keys) {
    const result = await runCli(['run', proof.job, ...proof.args(b)], {
      env: {
        AWS_ACCESS_KEY_ID: keys.accessKeyId,
        AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
        AWS_ENDPOINT_URL_S3: servers.s3.endpoint,
        AWS_REGION: servers.s3.region,
        AWS_EC2_METADATA_DISABLED: 'true',
        S3WORKER_TMPDIR: tmp,
        S3WORKER_LOG_FORMAT: 'json',
        // Debug lines too: some fallbacks are logged there, and no secret may appear in them.
        S3WORKER_LOG_LEVEL: 'debug',
      },
    });
    const output = `${result.stdout}\n${result.stderr}`;
    expect(output).not.toContain(keys.secretAccessKey);
    return { ...result, output };
  }

  beforeAll(async () => {
    admin = adminClient(servers.s3);
    tmp = mkdtempSync(join(tmpdir(), 's3worker-proof-'));
    for (const role of proof.buckets) {
      const bucket = await createTestBucket(admin, `proof-${role}`);
      b[role] = bucket.name;
      removers.push(bucket.remove);
    }
    await proof.arrange(admin, b);
    if (proof.previousRun) {
      const first = await runAs(servers.s3);
      expect(first.code, first.output.slice(-3000)).toBe(ExitCode.Success);
    }
    const generated = await runCli(['policy', proof.job, ...proof.args(b)]);
    expect(generated.stderr).toBe('');
    expect(generated.code).toBe(0);
    policy = JSON.parse(generated.stdout) as PolicyDocument;
  });

  afterAll(async () => {
    for (const remove of removers.reverse()) await remove();
    admin?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('is sufficient: a user holding exactly this policy runs the job to the end', async () => {
    const user = await createUserWithPolicy(servers.s3, forMinio(policy), 'proof');
    try {
      await proof.reset(admin, b);
      const run = await runAs(user);
      expect(run.code, run.output).toBe(ExitCode.Success);
      await proof.succeeded(admin, b, run.logs);
    } finally {
      await user.remove();
    }
  });

  it('grants nothing outside the job: other prefixes and buckets are denied', async () => {
    const user = await createUserWithPolicy(servers.s3, forMinio(policy), 'proof');
    const client = userClient(servers.s3, user);
    try {
      for (const [what, request] of proof.outside(client, b)) {
        const err = await request().then(
          () => undefined,
          (e: { name?: string }) => e,
        );
        expect(err?.name, what).toBe('AccessDenied');
      }
    } finally {
      client.destroy();
      await user.remove();
    }
  });

  it('has a minimality row for each action it grants, and no other', () => {
    const granted = policy.Statement.flatMap((s) => [s.Action].flat().map((a) => `${s.Sid} ${a}`));
    expect(granted.sort()).toEqual(Object.keys(proof.without).sort());
  });

  it.each(Object.entries(proof.without))(
    'is minimal: without %s, the run ends as its row says (failing, naming the action)',
    async (row, expected) => {
      const [sid, action] = row.split(' ') as [string, string];
      const user = await createUserWithPolicy(
        servers.s3,
        forMinio(without(policy, sid, action)),
        'proof',
      );
      try {
        await proof.reset(admin, b);
        const run = await runAs(user);
        const label = `${row}:\n${run.output.slice(-3000)}`;
        expect(expected.exitCodes, label).toContain(run.code);
        expect(run.output, label).toMatch(expected.says);
        await expected.check?.(admin, b);
      } finally {
        await user.remove();
      }
    },
  );

  it('with --deny-insecure-transport refuses everything over plain HTTP (MinIO evaluates aws:SecureTransport)', async () => {
    const denied = await runCli([
      'policy',
      proof.job,
      '--deny-insecure-transport',
      ...proof.args(b),
    ]);
    const user = await createUserWithPolicy(
      servers.s3,
      forMinio(JSON.parse(denied.stdout)),
      'proof',
    );
    try {
      await proof.reset(admin, b);
      const run = await runAs(user);
      expect(run.code, run.output.slice(-3000)).toBe(ExitCode.AccessDenied);
    } finally {
      await user.remove();
    }
  });
});
