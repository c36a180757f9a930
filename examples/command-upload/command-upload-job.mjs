// A job of your own on top of ctx.transfer: run a command and stream its stdout into one S3
// object, whatever its length, within the run's memory budget. Load it with --handler:
//   s3worker run command-upload --handler ./command-upload-job.mjs \
//     --output s3://bucket/dumps/today.bin --command tar --command -c --command /data
import { spawn } from 'node:child_process';
import { Job, S3WorkerError, z } from 's3worker';

const s3Url = z
  .string()
  .regex(/^s3:\/\/[a-z0-9.-]{3,63}\/.+$/, 'an s3://bucket/key URL')
  .transform((url) => {
    const [bucket, ...key] = url.slice(5).split('/');
    return { bucket, key: key.join('/') };
  });

export default class CommandUploadJob extends Job {
  static jobName = 'command-upload';
  static description = "Upload one command's standard output to an S3 object, streaming";
  static configSchema = z.object({
    output: s3Url.describe('Where the output goes: s3://bucket/key. Required.'),
    command: z
      .array(z.string().min(1))
      .min(1)
      .describe('The program and its arguments, one per flag (no shell). Required.'),
  });

  permissions() {
    const { bucket, key } = this.config.output;
    return [
      { action: 's3:PutObject', bucket, prefix: key, reason: 'write the output' },
      { action: 's3:AbortMultipartUpload', bucket, prefix: key, reason: 'abort a failed upload' },
    ];
  }

  async run(ctx) {
    const [program, ...args] = this.config.command;
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve(code ?? signal));
    });
    ctx.signal.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
    // The body ends only once the command exited 0: a failing command fails the upload, which
    // is then aborted, so no object that looks complete is left behind.
    async function* output() {
      yield* child.stdout;
      const status = await exited;
      if (status !== 0) {
        throw new S3WorkerError(`${program} exited with ${status}`, {
          code: 'COMMAND_FAILED',
          hint: 'nothing was written; fix the command and run again',
        });
      }
    }
    const { bytes, parts } = await ctx.transfer.upload({
      ...this.config.output,
      body: output(),
      contentType: 'application/octet-stream',
      signal: ctx.signal,
    });
    ctx.progress.addBytesOut(bytes);
    ctx.progress.objectDone('done');
    ctx.log.info(
      { bytes, parts, budgetHighWaterMark: ctx.transfer.budget.highWaterMark },
      'command output uploaded',
    );
    return { objects: { done: 1, skipped: 0, failed: 0 }, bytesIn: bytes, bytesOut: bytes };
  }
}
