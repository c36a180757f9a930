// (q) stream-transform in queue mode (S3 events on SQS, 1, 2 and 4 worker processes) beside the
// same objects copied in listing mode, on the local MinIO and ElasticMQ.
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
import { deletePrefix, putSmallObjects } from '../lib/bench-s3.mjs';
import { round, runPipeline, runSteps } from '../lib/measure.mjs';
import { s3EventBody } from '../lib/s3-event.mjs';
import manySmall from './many-small.mjs';

/** Worker processes per queue run. */
const WORKER_COUNTS = [1, 2, 4];
/** How long a queue worker waits for more messages once the queue is empty, before exiting. */
const EXIT_WHEN_IDLE = '1s';
/** How often the queue is polled for "empty" while the workers run, ms. */
const DRAIN_POLL_MS = 100;

/** @type {import('../run.mjs').Scenario} */
export default {
  id: 'q',
  title: 'queue mode: S3 events on SQS, 1/2/4 workers, beside listing mode (identity)',
  unit: 'objects/s',
  async prepare({ s3, buckets, options }) {
    const prefix = 'q/src/';
    await putSmallObjects(s3, buckets.input, prefix, options.objects, options.objectSize);
    return {
      bucket: buckets.input,
      prefix,
      count: options.objects,
      objectSize: options.objectSize,
    };
  },
  describe: (src) => `${src.count} objects of ${src.objectSize} random bytes`,
  work: (src) => ({ bytes: src.count * src.objectSize, objects: src.count }),

  /**
   * Listing mode (s3worker with defaults), then queue mode with 1, 2 and 4 workers: for each, a
   * fresh queue gets one S3-format event per object (not timed), the workers start, and the wall
   * time runs until the queue is empty (visible and in flight both 0). CPU seconds add up every
   * worker's user + system time. With `--repeat N` the four settings run N rounds in turn (so a
   * load change on the machine hits them alike) and the median round by wall time is kept.
   */
  async runAll(ctx) {
    const { s3, src, buckets, tools, env, measureOptions, options, say, label } = ctx;
    const measure = async (variant, dstPrefix, body) => {
      const dst = { bucket: buckets.output, prefix: dstPrefix };
      const run = { tool: 's3worker', variant };
      try {
        Object.assign(run, await body(dst));
        run.verified = await manySmall.verify({ s3, src, dst, options });
        run.throughput = round(src.count / run.wallSeconds, 1);
        run.mbPerSecond = round((src.count * src.objectSize) / 1e6 / run.wallSeconds, 1);
        run.cpuSecondsPerGiB = round(
          run.cpuSeconds / ((src.count * src.objectSize) / 1024 ** 3),
          2,
        );
        run.cpuMsPerObject = round((run.cpuSeconds * 1000) / src.count, 2);
        say(
          `${label} ${variant}: ${run.wallSeconds} s wall, ${run.throughput} objects/s, ` +
            `${run.cpuSeconds} s CPU; verified (${run.verified})`,
        );
      } catch (error) {
        run.error = error.message.slice(0, 2000);
        say(`${label} ${variant}: FAILED: ${run.error}`);
      } finally {
        if (!options.keep) await deletePrefix(s3, dst.bucket, dst.prefix).catch(() => {});
      }
      return run;
    };
    const attempts = new Map();
    const record = (run) => attempts.set(run.variant, [...(attempts.get(run.variant) ?? []), run]);

    const listing = (dst) =>
      runSteps(tools.s3worker.many({ variant: 'default', src, dst }), {
        ...measureOptions,
        env: env('default'),
      }).then(pick);
    const sqs = ctx.sqsEndpoint
      ? new SQSClient({
          endpoint: ctx.sqsEndpoint,
          region: 'us-east-1',
          credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
        })
      : undefined;
    const queued = (n, dst) => runQueue({ ...ctx, sqs, n, dst });
    try {
      for (let r = 0; r < options.repeat && !ctx.isInterrupted(); r++) {
        record(await measure('listing', `q/listing-${r}/`, listing));
        for (const n of WORKER_COUNTS) {
          if (ctx.isInterrupted()) break;
          if (!sqs) {
            record({
              tool: 's3worker',
              variant: queueVariant(n),
              error:
                'no SQS_ENDPOINT in the test services env file (scripts/test-services.sh start)',
            });
            continue;
          }
          record(await measure(queueVariant(n), `q/queue-${n}-${r}/`, (dst) => queued(n, dst)));
        }
      }
    } finally {
      sqs?.destroy();
    }
    return [...attempts.values()].map((list) => {
      const failed = list.find((x) => x.error);
      const ok = list.filter((x) => !x.error).sort((x, y) => x.wallSeconds - y.wallSeconds);
      const kept = failed ?? ok[Math.floor((ok.length - 1) / 2)];
      return list.length > 1 ? { ...kept, allWallSeconds: list.map((x) => x.wallSeconds) } : kept;
    });
  },
};

/** One queue run: a fresh queue, the events, `n` workers, timed until the queue is empty. */
async function runQueue({ sqs, n, dst, src, buckets, s3, tools, env, measureOptions }) {
  const queueUrl = await createQueue(sqs, `${buckets.input}-${n}-${Date.now().toString(36)}`);
  try {
    await sendEvents(sqs, queueUrl, src, await etags(s3, src));
    const [[listing]] = tools.s3worker.many({ variant: 'default', src, dst });
    const worker = {
      cmd: listing.cmd,
      args: [...listing.args, '--queue', queueUrl, '--exit-when-idle', EXIT_WHEN_IDLE],
    };
    const started = process.hrtime.bigint();
    const workers = Array.from({ length: n }, () =>
      runPipeline([worker], { ...measureOptions, env: env('default') }),
    );
    // Fails fast when a worker dies before the queue drained.
    const drained = waitDrained(sqs, queueUrl, measureOptions.timeoutMs);
    drained.catch(() => {});
    const wallSeconds = await Promise.race([
      drained.then(() => Number(process.hrtime.bigint() - started) / 1e9),
      Promise.all(workers).then(() => drained),
    ]);
    const done = await Promise.all(workers);
    return {
      wallSeconds: round(wallSeconds, 3),
      cpuSeconds: round(
        done.reduce((sum, w) => sum + w.cpuSeconds, 0),
        2,
      ),
      peakRssBytes: Math.max(...done.map((w) => w.peakRssBytes)),
      rssSumBytes: done.reduce((sum, w) => sum + w.peakRssBytes, 0),
      processes: done.flatMap((w) => w.processes),
    };
  } finally {
    await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => {});
  }
}

const queueVariant = (n) => `queue ×${n}`;

function pick(measured) {
  const { wallSeconds, cpuSeconds, peakRssBytes, rssSumBytes, processes } = measured;
  return { wallSeconds, cpuSeconds, peakRssBytes, rssSumBytes, processes };
}

async function createQueue(sqs, name) {
  const out = await sqs.send(
    new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: '60' } }),
  );
  return out.QueueUrl;
}

/** The ETag of every source object by key, unquoted as events carry them. */
async function etags(s3, src) {
  const byKey = new Map();
  let token;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: src.bucket,
        Prefix: src.prefix,
        ContinuationToken: token,
      }),
    );
    for (const o of page.Contents ?? []) byKey.set(o.Key, o.ETag.replaceAll('"', ''));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return byKey;
}

/** One S3-format ObjectCreated event per object, sent 10 per request, 8 requests at a time. */
async function sendEvents(sqs, queueUrl, src, etagByKey) {
  const limit = pLimit(8);
  const batches = [];
  for (let i = 0; i < src.count; i += 10) {
    const entries = [];
    for (let j = i; j < Math.min(i + 10, src.count); j++) {
      entries.push({ Id: String(j - i), MessageBody: eventBody(src, j, etagByKey) });
    }
    batches.push(
      limit(() => sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }))),
    );
  }
  await Promise.all(batches);
}

/** The body S3 sends for the ObjectCreated event of source object `index`. */
function eventBody(src, index, etagByKey) {
  const key = `${src.prefix}${String(index).padStart(6, '0')}.bin`;
  return s3EventBody(src.bucket, { key, size: src.objectSize, etag: etagByKey.get(key) });
}

/** Resolves once the queue holds no message, visible or in flight; rejects after `timeoutMs`. */
async function waitDrained(sqs, queueUrl, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    const a = out.Attributes ?? {};
    if (
      Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible) ===
      0
    )
      return;
    if (Date.now() > deadline)
      throw new Error(`the queue did not drain within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
  }
}
