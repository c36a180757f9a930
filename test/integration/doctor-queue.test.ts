import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { doctorCommand } from '../../src/cli/commands/doctor.js';
import type { DoctorReport } from '../../src/doctor/run-doctor.js';
import { ExitCode } from '../../src/errors.js';
import { adminClient, createTestBucket } from '../support/s3.js';
import {
  createTestQueue,
  queueCounts,
  sendBodies,
  sqsClient,
  type TestQueue,
} from '../support/sqs.js';

describe('s3worker doctor stream-transform --queue', () => {
  const servers = inject('servers');
  const admin = adminClient(servers.s3);
  let sqs: SQSClient;
  let queue: TestQueue;
  let bucket: { name: string; remove: () => Promise<void> };

  const env = (): NodeJS.ProcessEnv => ({
    AWS_ACCESS_KEY_ID: servers.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: servers.s3.secretAccessKey,
    AWS_REGION: servers.s3.region,
    S3WORKER_ENDPOINT: servers.s3.endpoint,
  });

  /** `doctor stream-transform ... --queue <url> --json`: exit code and report. */
  async function doctor(queueUrl: string): Promise<{ code: number; report: DoctorReport }> {
    let text = '';
    const code = await doctorCommand(
      [
        'stream-transform',
        '--input',
        `s3://${bucket.name}/in/`,
        '--output',
        `s3://${bucket.name}/out/`,
        '--queue',
        queueUrl,
        '--json',
      ],
      env(),
      (t) => {
        text += t;
      },
    );
    return { code, report: JSON.parse(text) as DoctorReport };
  }

  beforeAll(async () => {
    sqs = sqsClient(servers.sqs);
    queue = await createTestQueue(sqs, { maxReceiveCount: 5 });
    bucket = await createTestBucket(admin, 'doctor-queue');
  });
  afterAll(async () => {
    await queue?.remove();
    await bucket?.remove();
    sqs?.destroy();
    admin.destroy();
  });

  it('probes every SQS permission the job declares, without receiving, hiding or deleting a message', async () => {
    await sendBodies(sqs, queue.url, ['left alone by the doctor']);
    const { code, report } = await doctor(queue.url);
    const sqsChecks = report.checks.filter((c) => c.permission.startsWith('sqs:'));
    expect(sqsChecks.map((c) => [c.permission, c.verdict]).sort()).toEqual([
      ['sqs:ChangeMessageVisibility', 'pass'],
      ['sqs:DeleteMessage', 'pass'],
      ['sqs:GetQueueAttributes', 'pass'],
      ['sqs:ReceiveMessage', 'pass'],
    ]);
    expect(sqsChecks.every((c) => c.target === queue.url)).toBe(true);
    expect(sqsChecks.find((c) => c.permission === 'sqs:GetQueueAttributes')?.detail).toMatch(
      /dead-letter queue after 5 receives/,
    );
    expect(code).toBe(ExitCode.Success);
    // The message is still there, visible, and was never received.
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 1, inFlight: 0 });
    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queue.url,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        VisibilityTimeout: 0,
      }),
    );
    expect(got.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('1');
  });

  it('fails on a queue that does not exist, with the missing-resource exit code', async () => {
    const { code, report } = await doctor(`${queue.url}-missing`);
    const failed = report.checks.filter((c) => c.verdict === 'fail');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((c) => c.permission.startsWith('sqs:'))).toBe(true);
    expect(failed[0]).toMatchObject({ code: 'QUEUE_NOT_FOUND', exitCode: ExitCode.NoSuchBucket });
    expect(code).toBe(ExitCode.NoSuchBucket);
  });

  it('enqueue: probes sqs:SendMessage with an empty batch, so nothing is sent', async () => {
    const empty = await createTestQueue(sqs);
    try {
      let text = '';
      const code = await doctorCommand(
        ['enqueue', '--queue', empty.url, '--input', `s3://${bucket.name}/in/`, '--json'],
        env(),
        (t) => {
          text += t;
        },
      );
      const report = JSON.parse(text) as DoctorReport;
      const checks = report.checks
        .filter((c) => c.permission !== '-')
        .map((c) => [c.permission, c.verdict])
        .sort();
      expect(checks).toEqual([
        ['s3:ListBucket', 'pass'],
        ['sqs:SendMessage', 'pass'],
      ]);
      expect(code).toBe(ExitCode.Success);
      expect(await queueCounts(sqs, empty.url)).toEqual({ visible: 0, inFlight: 0 });
    } finally {
      await empty.remove();
    }
  });

  it('enqueue: a queue that does not exist fails the SendMessage probe', async () => {
    let text = '';
    const code = await doctorCommand(
      [
        'enqueue',
        '--queue',
        `${queue.url}-missing`,
        '--input',
        `s3://${bucket.name}/in/`,
        '--json',
      ],
      env(),
      (t) => {
        text += t;
      },
    );
    const failed = (JSON.parse(text) as DoctorReport).checks.filter((c) => c.verdict === 'fail');
    expect(failed).toMatchObject([{ permission: 'sqs:SendMessage', code: 'QUEUE_NOT_FOUND' }]);
    expect(code).toBe(ExitCode.NoSuchBucket);
  });
});
