import { getEventListeners } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { JobContext, ProgressReporter } from '../../src/jobs/job.js';
import { FailureReport, MAX_REPORTED_FAILURES } from '../../src/jobs/kit/failure-report.js';
import type { OutputKeyClaims } from '../../src/jobs/kit/output-key-claims.js';
import { MAX_SKIP_REASONS, WorkLoop } from '../../src/jobs/kit/work-loop.js';
import type { StreamTransformConfig } from '../../src/jobs/stream-transform/config.js';
import { ObjectTransformJob } from '../../src/jobs/stream-transform/object-transform-job.js';
import { ObjectTransformRun } from '../../src/jobs/stream-transform/object-transform-run.js';
import { Transfer } from '../../src/transfer/transfer.js';

/** 1 KiB per object: every object is a small copy (one GET, one PUT). */
const BODY = Buffer.alloc(1024, 'x');
const ETAG = '"0123456789abcdef0123456789abcdef"';

/**
 * An S3 client whose `send` answers from memory: `count` objects under `in/`, an output prefix
 * empty at start, every PUT accepted and forgotten (this measures the run, not the fake).
 */
function fakeS3(count: number): { client: S3Client; puts: () => number } {
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
    credentials: { accessKeyId: 'fake', secretAccessKey: 'fake' },
  });
  let puts = 0;
  const key = (i: number) => `in/${String(i).padStart(8, '0')}.txt`;
  const answer = async (command: { constructor: { name: string }; input: object }) => {
    const input = command.input as Record<string, string | number | undefined>;
    const $metadata = { httpStatusCode: 200, attempts: 1 };
    switch (command.constructor.name) {
      case 'ListMultipartUploadsCommand':
        return { $metadata, Uploads: [], IsTruncated: false };
      case 'ListObjectsV2Command': {
        if (input.Prefix !== 'in/') return { $metadata, KeyCount: 0, IsTruncated: false };
        const from = Number(input.ContinuationToken ?? 0);
        const to = Math.min(count, from + 1000);
        return {
          $metadata,
          KeyCount: to - from,
          Contents: Array.from({ length: to - from }, (_, n) => ({
            Key: key(from + n),
            Size: BODY.length,
            ETag: ETAG,
            LastModified: new Date(0),
          })),
          IsTruncated: to < count,
          NextContinuationToken: to < count ? String(to) : undefined,
        };
      }
      case 'GetObjectCommand':
        return { $metadata, Body: Readable.from([BODY]), ContentLength: BODY.length, ETag: ETAG };
      case 'PutObjectCommand':
        puts++;
        return { $metadata, ETag: ETAG };
      default:
        throw new Error(`the fake S3 does not answer ${command.constructor.name}`);
    }
  };
  client.send = answer as unknown as S3Client['send'];
  return { client, puts: () => puts };
}

const noProgress: ProgressReporter = {
  addTotal: () => {},
  addBytesIn: () => {},
  addBytesOut: () => {},
  objectDone: () => {},
};

/** One listing run over `count` fake objects; what it holds at the end, by structure. */
async function runOver(count: number) {
  const { client, puts } = fakeS3(count);
  const config = ObjectTransformJob.configSchema.parse({
    input: 's3://in-bucket/in/',
    output: 's3://out-bucket/out/',
    concurrency: 8,
  }) as StreamTransformConfig;
  const job = new ObjectTransformJob(config);
  const signal = new AbortController().signal;
  const stopSignal = new AbortController().signal;
  const ctx: JobContext<StreamTransformConfig> = {
    config,
    s3: client,
    transfer: new Transfer(client, { directRequests: false }),
    log: pino({ level: 'info' }, new Writable({ write: (_c, _e, done) => done() })),
    progress: noProgress,
    signal,
    stopSignal,
    tmpDir: process.env.TMPDIR ?? '/tmp',
    runId: `memory-${count}`,
    task: { ecs: false, hostname: 'test-host' },
  };
  const run = new ObjectTransformRun(job, ctx);
  const result = await run.run();
  const state = run as unknown as { claims: OutputKeyClaims; report: FailureReport };
  return {
    done: result.objects.done,
    puts: puts(),
    structures: {
      claimsHeld: state.claims.size,
      claimsTableBytes: state.claims.tableBytes,
      failuresKept: state.report.failures.length,
      skipReasons: Object.keys(result.skippedBy ?? {}).length,
      abortListeners: getEventListeners(signal, 'abort').length,
      stopListeners: getEventListeners(stopSignal, 'abort').length,
    },
  };
}

describe('a listing run holds nothing per finished object', () => {
  it('its structures are the same size after 2,000 and after 20,000 objects', async () => {
    const small = await runOver(2_000);
    const large = await runOver(20_000);
    expect([small.done, small.puts, large.done, large.puts]).toEqual([
      2_000, 2_000, 20_000, 20_000,
    ]);
    expect(large.structures).toEqual(small.structures);
    // And no claim is left: each was given back as its object settled.
    expect(large.structures.claimsHeld).toBe(0);
  }, 120_000);

  it('the failure report keeps at most MAX_REPORTED_FAILURES entries and counts the rest', () => {
    const report = new FailureReport({ runId: 'r', job: 'j', input: 'i', output: 'o' });
    for (let i = 0; i < MAX_REPORTED_FAILURES + 500; i++) {
      report.add({ key: `k${i}`, code: 'X', message: 'm', attempts: 1 });
    }
    expect(report.failures).toHaveLength(MAX_REPORTED_FAILURES);
    expect(report.toJSON().failed).toBe(MAX_REPORTED_FAILURES + 500);
  });

  it('skip reasons past MAX_SKIP_REASONS are counted under other', async () => {
    const stop = new AbortController();
    const loop = new WorkLoop<number>({
      concurrency: 4,
      stopSignal: stop.signal,
      signal: stop.signal,
      log: pino({ level: 'silent' }),
      process: async (i) => ({ skipped: `reason-${i}` }),
      onError: () => {},
    });
    async function* items() {
      for (let i = 0; i < 1_000; i++) yield i;
    }
    const result = await loop.run(items());
    expect(Object.keys(result.skippedBy)).toHaveLength(MAX_SKIP_REASONS);
    expect(result.skippedBy.other).toBe(1_000 - (MAX_SKIP_REASONS - 1));
    expect(result.counts.skipped).toBe(1_000);
  });
});
