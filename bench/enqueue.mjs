// `s3worker enqueue`'s rate: one run (defaults: 16 SendMessageBatch requests in flight, a
// checkpoint file every 100 batches) enqueues every object of a listing into a fresh ElasticMQ
// queue; the line gives messages/s over the run's wall time (process start to exit, so start-up
// and the listing count) and over its own elapsed time (from its summary), with its CPU. Needs
// `npm run build`, the local MinIO and ElasticMQ (scripts/test-services.sh start).
//
//   node bench/enqueue.mjs [--objects 20000] [--concurrency 16] [--cli dist/cli/main.js]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { createBenchClient, createBucket, putSmallObjects, removeBucket } from './lib/bench-s3.mjs';
import { shebangNodeFlags } from './lib/bin-flags.mjs';
import { onLogLines, option, servicesEnv, workerEnv } from './lib/job-bench.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = resolve(option('cli', join(ROOT, 'dist/cli/main.js')));
const say = (text) => process.stderr.write(`[bench enqueue] ${text}\n`);

/** User + system CPU seconds of a finished child, from /proc of this process's children. */
function childCpuSeconds() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  // cutime and cstime: fields 16 and 17 of stat, 14 and 15 after the "pid (comm) " prefix.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

async function main() {
  const objects = Number(option('objects', '20000'));
  const concurrency = option('concurrency', '16');
  const services = servicesEnv();
  if (!services.SQS_ENDPOINT)
    throw new Error('no SQS_ENDPOINT: run scripts/test-services.sh start');
  const s3 = createBenchClient({
    endpoint: services.S3_ENDPOINT,
    region: services.S3_REGION ?? 'us-east-1',
    accessKeyId: services.S3_ACCESS_KEY_ID,
    secretAccessKey: services.S3_SECRET_ACCESS_KEY,
  });
  const sqs = new SQSClient({
    endpoint: services.SQS_ENDPOINT,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const id = randomBytes(4).toString('hex');
  const bucket = `s3worker-bench-enqueue-${id}`;
  const dir = await mkdtemp(join(tmpdir(), 's3worker-bench-enqueue-'));
  await createBucket(s3, bucket);
  const { QueueUrl: queueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: `s3worker-bench-enqueue-${id}` }),
  );
  try {
    say(`writing ${objects} objects`);
    await putSmallObjects(s3, bucket, 'src/', objects, 1);
    const cpuBefore = childCpuSeconds();
    const started = performance.now();
    const child = spawn(
      process.execPath,
      [
        ...shebangNodeFlags(CLI),
        CLI,
        'enqueue',
        '--queue',
        queueUrl,
        '--input',
        `s3://${bucket}/src/`,
        '--checkpoint',
        join(dir, 'checkpoint.json'),
        '--concurrency',
        concurrency,
        '--log-format',
        'json',
      ],
      { env: workerEnv(services, dir), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let summary;
    onLogLines(child.stdout, '"msg":"summary"', (entry) => {
      summary = entry;
    });
    const code = await new Promise((r) => child.once('close', r));
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = childCpuSeconds() - cpuBefore;
    if (code !== 0) throw new Error(`enqueue exited with ${code}`);
    const queued = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    const visible = Number(queued.Attributes?.ApproximateNumberOfMessages);
    if (summary?.objects.done !== objects || visible !== objects) {
      throw new Error(`sent ${summary?.objects.done}, queue holds ${visible}, of ${objects}`);
    }
    const result = {
      cli: CLI,
      messages: objects,
      concurrency: Number(concurrency),
      wallSeconds: Number(seconds.toFixed(1)),
      messagesPerSecond: Math.round(objects / seconds),
      messagesPerSecondInRun: Math.round(objects / (summary.elapsedMs / 1000)),
      cpuSeconds: Number(cpuSeconds.toFixed(1)),
      cpuMsPerThousand: Number(((cpuSeconds * 1e6) / objects).toFixed(0)),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => {});
    await removeBucket(s3, bucket).catch(() => {});
    await rm(dir, { recursive: true, force: true });
    s3.destroy();
    sqs.destroy();
  }
}

await main();
