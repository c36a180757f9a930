import type {
  S3ClientResolvedConfig,
  ServiceInputTypes,
  ServiceOutputTypes,
} from '@aws-sdk/client-s3';
import type { Command, HttpHandlerOptions } from '@smithy/types';

/** One S3 command, as `S3Client.send` takes it. */
export type S3Command<I extends ServiceInputTypes, O extends ServiceOutputTypes> = Command<
  ServiceInputTypes,
  I,
  ServiceOutputTypes,
  O,
  S3ClientResolvedConfig
>;

/**
 * What code that only sends S3 requests needs: an `S3Client`, or better a job's `ctx.transfer`,
 * whose `send` carries a request through transient failures (resets, 503 SlowDown, a restarting
 * endpoint) within the run's retry window, after the SDK's own few attempts are spent.
 */
export interface S3Sender {
  send<I extends ServiceInputTypes, O extends ServiceOutputTypes>(
    command: S3Command<I, O>,
    options?: HttpHandlerOptions,
  ): Promise<O>;
}
