// Queue mode's memory over a long run: one `stream-transform --queue` worker (defaults) takes
// 200,000 S3 events, one per new small object, fed as S3 would: the object is written, then its
// ObjectCreated event sent, with the backlog kept near `--backlog` messages. Its RSS is read from
// /proc at every progress line (1 s): a service must hold as much after a million events as
// after the first thousands. Needs `npm run build`, the local MinIO and ElasticMQ
// (scripts/test-services.sh start).
//
//   node bench/queue-memory.mjs [--events 200000] [--object-size 256] [--backlog 2000]
//                               [--warm-up 20000] [--cli dist/cli/main.js]
//
// `--cli` runs another build (an older commit's dist/cli/main.js) for a before/after line.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
import { createBenchClient, createBucket, removeBucket } from './lib/bench-s3.mjs';
import { shebangNodeFlags } from './lib/bin-flags.mjs';
import { onLogLines, option, servicesEnv, workerEnv } from './lib/job-bench.mjs';
import { formatSize, parseSize } from './lib/options.mjs';
import { s3EventBody } from './lib/s3-event.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = resolve(option('cli', join(ROOT, 'dist/cli/main.js')));
const say = (text) => process.stderr.write(`[bench queue-memory] ${text}\n`);
const MiB = 1024 * 1024;

/** Objects written (and events sent) per SendMessageBatch: SQS's maximum. */
const EVENTS_PER_BATCH = 10;
/** Batches produced at once. */
const PRODUCER_CONCURRENCY = 8;

/** Resident memory of a process now (VmRSS), bytes; NaN once it is gone. */
function rss(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Messages visible or in flight on the queue (SQS's approximate counts). */
async function backlog(sqs, queueUrl) {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  const a = out.Attributes ?? {};
  return Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible);
}

/**
 * Writes `events` objects of `objectSize` random bytes and sends each one's event once it is
 * written, never letting the queue's backlog grow much past `limit` (ElasticMQ keeps every
 * message in memory, and a service sees a steady stream, not one huge burst).
 */
async function produce({ s3, sqs, queueUrl, bucket, prefix, events, objectSize, limit, stop }) {
  const run = pLimit(PRODUCER_CONCURRENCY);
  const batch = async (first) => {
    const records = await Promise.all(
      Array.from({ length: Math.min(EVENTS_PER_BATCH, events - first) }, async (_, i) => {
        const key = `${prefix}${String(first + i).padStart(7, '0')}.bin`;
        const put = await s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: randomBytes(objectSize) }),
        );
        return { key, size: objectSize, etag: put.ETag.replaceAll('"', '') };
      }),
    );
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: records.map((r, i) => ({ Id: String(i), MessageBody: s3EventBody(bucket, r) })),
      }),
    );
  };
  for (let sent = 0; sent < events; ) {
    const stopped = stop();
    if (stopped) throw stopped;
    const room = limit - (await backlog(sqs, queueUrl));
    if (room < limit / 2) {
      await sleep(200);
      continue;
    }
    const firsts = [];
    for (let n = 0; n < room && sent < events; n += EVENTS_PER_BATCH) {
      firsts.push(sent);
      sent += EVENTS_PER_BATCH;
    }
    await Promise.all(firsts.map((first) => run(() => batch(first))));
  }
}

async function main() {
  const events = Number(option('events', '200000'));
  const objectSize = parseSize(option('object-size', '256'));
  const limit = Number(option('backlog', '2000'));
  const warmUp = Number(option('warm-up', String(Math.round(events / 10))));
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
  const input = `s3worker-bench-qmem-in-${id}`;
  const output = `s3worker-bench-qmem-out-${id}`;
  const dir = await mkdtemp(join(tmpdir(), 's3worker-bench-qmem-'));
  await createBucket(s3, input);
  await createBucket(s3, output);
  const { QueueUrl: queueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: `s3worker-bench-qmem-${id}`,
      Attributes: { VisibilityTimeout: '60' },
    }),
  );
  try {
    const child = spawn(
      process.execPath,
      [
        ...shebangNodeFlags(CLI),
        CLI,
        'run',
        'stream-transform',
        '--input',
        `s3://${input}/new/`,
        '--output',
        `s3://${output}/`,
        '--queue',
        queueUrl,
        '--exit-when-idle',
        '10s',
        '--progress-interval',
        '1s',
        '--log-format',
        'json',
      ],
      {
        env: workerEnv(services, dir),
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let exitCode;
    child.once('exit', (code, signal) => {
      exitCode = code ?? signal;
    });
    const exited = new Promise((r) => child.once('close', r));
    // (events settled, RSS) at every progress line; the last line's counts and claims.
    const samples = [];
    let finished;
    let summary;
    onLogLines(child.stdout, '"msg":"', (entry) => {
      if (entry.msg === 'progress') {
        const { done, skipped, failed } = entry.objects;
        samples.push({ settled: done + skipped + failed, rss: rss(child.pid) });
      } else if (entry.msg === 'stream-transform finished') finished = entry;
      else if (entry.msg === 'summary') summary = entry;
    });
    const started = performance.now();
    await produce({
      s3,
      sqs,
      queueUrl,
      bucket: input,
      prefix: 'new/',
      events,
      objectSize,
      limit,
      stop: () =>
        exitCode === undefined ? undefined : new Error(`worker exited early with ${exitCode}`),
    });
    say(`${events} events sent in ${Math.round((performance.now() - started) / 1000)} s`);
    const code = await exited;
    const seconds = (performance.now() - started) / 1000;
    if (code !== 0) throw new Error(`worker exited with ${code}`);
    if (summary?.objects.done !== events)
      throw new Error(`the worker wrote ${summary?.objects.done} outputs of ${events}`);
    const kept = samples.filter((s) => Number.isFinite(s.rss));
    const afterWarmUp = kept.find((s) => s.settled >= warmUp);
    const end = kept.findLast((s) => s.settled >= events) ?? kept.at(-1);
    const later = kept.filter((s) => s.settled >= warmUp);
    const result = {
      cli: CLI,
      events,
      objectSize: formatSize(objectSize),
      seconds: Math.round(seconds),
      eventsPerSecond: Math.round(events / seconds),
      rssAfterWarmUp: { events: afterWarmUp.settled, rss: formatSize(afterWarmUp.rss) },
      rssAtEnd: { events: end.settled, rss: formatSize(end.rss) },
      rssMaxAfterWarmUp: formatSize(Math.max(...later.map((s) => s.rss))),
      rssGrowthMiB: Number(((end.rss - afterWarmUp.rss) / MiB).toFixed(1)),
      // The shape: RSS at each tenth of the events (a leak climbs to the end; a heap that
      // settles stops climbing).
      rssMiBByTenth: Array.from({ length: 10 }, (_, i) => {
        const at = kept.find((s) => s.settled >= ((i + 1) * events) / 10) ?? end;
        return [at.settled, Number((at.rss / MiB).toFixed(1))];
      }),
      samples: kept.length,
      outputKeyClaimsAtEnd: finished?.outputKeyClaims,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => {});
    sqs.destroy();
    for (const bucket of [input, output]) await removeBucket(s3, bucket).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exitCode = 1;
});
