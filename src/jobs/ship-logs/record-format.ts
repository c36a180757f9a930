import type { ShipperTask } from './key-fields.js';

/**
 * Wraps each line of `data` (complete lines, each ending with `\n`) as one JSON record:
 * `{"timestamp","file","message","hostname"}` plus `cluster`, `family` and `taskId` in ECS. The
 * timestamp is when the shipper read the line (the line's own time, if any, stays in the
 * message). Bytes that are not UTF-8 become U+FFFD.
 */
export function toNdjson(data: Buffer, file: string, task: ShipperTask, readAt: Date): Buffer {
  const fields: Record<string, string> = { timestamp: readAt.toISOString(), file };
  const after: Record<string, string> = { hostname: task.hostname };
  if (task.ecs)
    Object.assign(after, { cluster: task.cluster, family: task.family, taskId: task.taskId });
  // The constant parts are serialised once per chunk, not once per line.
  const head = `${JSON.stringify(fields).slice(0, -1)},"message":`;
  const tail = `,${JSON.stringify(after).slice(1)}\n`;
  const text = data.toString('utf8');
  let out = '';
  let start = 0;
  for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
    out += head + JSON.stringify(text.slice(start, nl)) + tail;
    start = nl + 1;
  }
  return Buffer.from(out);
}
