import { type Duplex, pipeline, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * A transform over chunks: gets the source bytes as an async iterable and yields output chunks
 * (Buffers or strings, written as UTF-8). Backpressure is automatic: the generator is only
 * resumed when the next stage wants more.
 */
export type ChunkTransform = (
  source: AsyncIterable<Buffer>,
) => AsyncIterable<Buffer | Uint8Array | string>;

/** One stage of a transform chain: a Node `Transform`/`Duplex` or a {@link ChunkTransform}. */
export type TransformStage = Duplex | ChunkTransform;

/**
 * What `ObjectTransformJob.transform(object)` may return: one stage, or an array of stages run in
 * order (an empty array copies the bytes through unchanged). Streams must be new for each
 * object: a stream cannot be reused once it ended.
 */
export type TransformSpec = TransformStage | readonly TransformStage[];

/** Flattens a {@link TransformSpec} into its stages. */
export function toStages(spec: TransformSpec): TransformStage[] {
  return Array.isArray(spec) ? [...spec] : [spec as TransformStage];
}

/** The output of a chain and a promise that settles when every stage has finished or failed. */
export interface RunningChain {
  /**
   * Read this (give it to the upload). Destroying it with an error tears the whole chain down;
   * destroyed without one, a stage waiting on its own (a timer, a lookup) may never hear of it.
   */
  output: Readable;
  /** Resolves when the chain finished; rejects with the first stage's error (e.g. a corrupt gzip). */
  done: Promise<void>;
}

/**
 * Connects `source` → stages → `sink` with `stream.pipeline`, so an error in any stage (or the
 * sink being destroyed because the upload failed) destroys every other stage and the source —
 * which releases the source's socket instead of leaking it. When `signal` aborts, the sink is
 * destroyed with its reason: every stage is torn down and an async generator stage's own
 * `signal` aborts, even while it waits on something that is not the stream (a stream destroyed
 * without an error does not abort it, and the chain would never settle).
 */
export function runChain(
  source: Readable,
  stages: readonly TransformStage[],
  sink: Duplex,
  signal?: AbortSignal,
): RunningChain {
  let settle!: (err: Error | null | undefined) => void;
  const done = new Promise<void>((resolve, reject) => {
    settle = (err) => (err ? reject(err) : resolve());
  });
  // Unhandled until the caller awaits it; the caller always does, after the upload settles.
  done.catch(() => {});
  // Destroyed with the reason itself: an AbortError, like no error at all, leaves an async
  // generator stage's signal alone.
  const onAbort = () => {
    const reason: unknown = signal?.reason;
    sink.destroy(reason instanceof Error ? reason : new Error(String(reason)));
  };
  // biome-ignore lint/suspicious/noExplicitAny: pipeline's array overload is typed loosely on purpose
  pipeline([source, ...stages, sink] as any, (err: Error | null | undefined) => {
    signal?.removeEventListener('abort', onAbort);
    settle(err);
  });
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return { output: sink, done };
}

/** Options of {@link recordMap}. */
export interface RecordMapOptions {
  /**
   * Parse each non-empty line as JSON (NDJSON) before calling the function, and write returned
   * objects back as one JSON line each. Default false: lines are strings.
   */
  json?: boolean;
}

/**
 * What a record function returns: a string (written as a line), any other value (written as a
 * JSON line), or `null`/`undefined` to drop the record.
 */
export type RecordResult = string | number | boolean | object | null | undefined;

/**
 * A {@link ChunkTransform} that applies `fn` to each line (or, with `{ json: true }`, to each
 * NDJSON record) and writes the results as lines. Lines are split on `\n` across chunk
 * boundaries and decoded as UTF-8 without splitting a character; a final line without a
 * newline stays without one. Memory: one input chunk plus one partial line.
 *
 * @example
 * transform() { return recordMap((line) => line.toUpperCase()); }
 * transform() { return recordMap((r) => (r.level === 'error' ? r : null), { json: true }); }
 */
export function recordMap<T = string>(
  fn: (record: T, index: number) => RecordResult | Promise<RecordResult>,
  options: RecordMapOptions = {},
): ChunkTransform {
  const json = options.json ?? false;
  const apply = async (line: string, index: number): Promise<string | undefined> => {
    if (json && line.trim() === '') return undefined;
    const record = (json ? JSON.parse(line) : line) as T;
    const result = await fn(record, index);
    if (result === null || result === undefined) return undefined;
    return typeof result === 'string' && !json ? result : JSON.stringify(result);
  };
  return async function* mapRecords(source) {
    const decoder = new StringDecoder('utf8');
    let pending = '';
    let index = 0;
    for await (const chunk of source) {
      const text = pending + decoder.write(chunk);
      const lines = text.split('\n');
      pending = lines.pop() ?? '';
      let out = '';
      for (const line of lines) {
        const mapped = await apply(line, index++);
        if (mapped !== undefined) out += `${mapped}\n`;
      }
      // One write per input chunk, not per line: a stage per line costs more than the map.
      if (out !== '') yield out;
    }
    const last = pending + decoder.end();
    if (last !== '') {
      const mapped = await apply(last, index);
      if (mapped !== undefined) yield mapped;
    }
  };
}
