import { builtinMetric, type JobMetric } from '../../job-metrics.js';
import type { QueueConsumer } from './queue-consumer.js';

/**
 * Queue mode's metrics (`ProgressReporter.addMetrics`), read from the consumer's own counts:
 *
 * - `MessagesReceived`: messages received, a redelivered one again each time.
 * - `MessagesDeleted`: messages deleted (every object done, skipped or filtered, or nothing to
 *   do), counted once SQS confirmed the delete.
 * - `MessagesReturned`: messages given back to the queue unfinished, for SQS to deliver again:
 *   handed back with visibility 0 when the run stops, or left to reappear after their visibility
 *   timeout because an object failed.
 * - `PoisonMessages`: receipts of messages not understood (not an S3 event, another event type,
 *   an object outside the input bucket or prefix), left for the redrive policy; one message
 *   counts at each receive until it reaches the dead-letter queue.
 * - `OldestMessageAgeSeconds`: see `QueueConsumer.takeOldestMessageAgeMs`; 0 when idle.
 *
 * Each received message ends as deleted, returned or poison, or is still held: the counts add
 * up, except for the rare delete or hand-back that SQS refused (logged as a warning).
 */
export function queueMetrics(
  consumer: Pick<QueueConsumer<unknown>, 'stats' | 'takeOldestMessageAgeMs'>,
): JobMetric[] {
  return [
    builtinMetric('MessagesReceived', () => consumer.stats().received),
    builtinMetric('MessagesDeleted', () => consumer.stats().deleted),
    builtinMetric('MessagesReturned', () => {
      const { returned, failed } = consumer.stats();
      return returned + failed;
    }),
    builtinMetric('PoisonMessages', () => consumer.stats().poison),
    builtinMetric('OldestMessageAgeSeconds', () => consumer.takeOldestMessageAgeMs() / 1000),
  ];
}
