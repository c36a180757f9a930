import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Gunzip } from 'node:zlib';
import { defaultCodecConcurrency } from './block-parallel-transform.js';

/** The codecs a decode worker reads. */
export type DecodeCodec = 'gzip' | 'zstd';

/** What a decode worker says about one stream (see `decode-worker.ts`). */
export type DecodeReply =
  | { type: 'output'; id: number; slot: number; length: number }
  | { type: 'consumed'; id: number; slots: number[] }
  | { type: 'end'; id: number }
  | { type: 'error'; id: number; error: { message: string; code?: unknown; errno?: unknown } };

/** What a stream hears from its worker. */
export interface DecodeListener {
  onReply(reply: DecodeReply): void;
  /** The thread died (or the pool closed): the stream cannot go on. */
  onFail(err: Error): void;
}

/**
 * Where a stream's bytes pass between the threads: compressed input in `input` (slots of
 * `inputSlot` bytes, filled here), decoded output in `output` (slots of `outputSlot` bytes,
 * filled by the worker).
 */
export interface DecodeAreas {
  input: SharedArrayBuffer;
  inputSlot: number;
  output: SharedArrayBuffer;
  outputSlot: number;
}

/** One stream's line to its worker thread. */
export interface DecodeChannel {
  /** Says that input slot `slot` holds `length` compressed bytes; the slot is the worker's until it says it consumed it. */
  input(slot: number, length: number): void;
  end(): void;
  /** Lends the worker output slot `slot` to decode into; it is the worker's until it names it in an output. */
  credit(slot: number): void;
  /** Forgets the stream here and in the worker; idempotent. */
  close(): void;
}

interface PoolWorker {
  thread: Worker;
  streams: Map<number, DecodeListener>;
}

/**
 * The worker's script: the compiled `.js` beside this module, or (when the sources run as they
 * are, under the tests) the `.ts`, which Node runs with its types stripped.
 */
function workerScript(): URL {
  const js = new URL('./decode-worker.js', import.meta.url);
  return existsSync(fileURLToPath(js)) ? js : new URL('./decode-worker.ts', import.meta.url);
}

let available: boolean | undefined;

/**
 * Whether Node's zlib streams expose the native handle the worker decodes with (`_handle` with
 * `writeSync`, as Node 24 has it). When they do not, the stages decode on libuv's thread pool
 * with Node's own streams instead.
 */
export function workerDecodingAvailable(): boolean {
  if (available === undefined) {
    const probe = new Gunzip();
    const inside = probe as unknown as { _handle?: { writeSync?: unknown }; _writeState?: unknown };
    available =
      typeof inside._handle?.writeSync === 'function' && inside._writeState instanceof Uint32Array;
    probe.close();
  }
  return available;
}

/** Options of {@link DecodeWorkerPool}. */
export interface DecodeWorkerPoolOptions {
  /** Worker threads at most (started as streams open). Default {@link defaultCodecConcurrency}. */
  size?: number | undefined;
}

/**
 * Worker threads that decode gzip and zstd streams, several streams per thread (each thread
 * keeps one decoding context per stream, see `decode-worker.ts`). A new stream goes to the thread
 * with the fewest streams, starting a new thread while there are fewer than `size`.
 *
 * A thread with streams keeps the process alive; an idle one does not (`unref`). A thread that
 * dies fails its streams and is replaced by a new one for the next stream. One pool serves the
 * whole process ({@link sharedDecodeWorkerPool}).
 */
export class DecodeWorkerPool {
  /** Worker threads at most. */
  readonly size: number;
  readonly #workers: PoolWorker[] = [];
  #nextId = 0;
  #closed = false;

  constructor(options: DecodeWorkerPoolOptions = {}) {
    this.size = Math.max(1, options.size ?? defaultCodecConcurrency());
  }

  /** Threads alive. */
  get threads(): number {
    return this.#workers.length;
  }

  /** Streams open on every thread. */
  get streams(): number {
    return this.#workers.reduce((n, w) => n + w.streams.size, 0);
  }

  /** Opens a stream of `codec` on a thread, passing bytes through `areas`; replies go to `listener`. */
  open(codec: DecodeCodec, areas: DecodeAreas, listener: DecodeListener): DecodeChannel {
    if (this.#closed) throw new Error('decode worker pool closed');
    const worker = this.#pick();
    const id = this.#nextId++;
    worker.streams.set(id, listener);
    worker.thread.ref();
    worker.thread.postMessage({ type: 'open', id, codec, ...areas });
    const forget = () => {
      if (!worker.streams.delete(id)) return false;
      if (worker.streams.size === 0) worker.thread.unref();
      return true;
    };
    return {
      input: (slot, length) => {
        if (worker.streams.has(id)) worker.thread.postMessage({ type: 'input', id, slot, length });
      },
      end: () => {
        if (worker.streams.has(id)) worker.thread.postMessage({ type: 'end', id });
      },
      credit: (slot) => {
        if (worker.streams.has(id)) worker.thread.postMessage({ type: 'credit', id, slot });
      },
      close: () => {
        if (forget()) worker.thread.postMessage({ type: 'close', id });
      },
    };
  }

  /** Stops every thread; their streams fail. For tests and shutdown. */
  async close(): Promise<void> {
    this.#closed = true;
    const closed = new Error('decode worker pool closed');
    await Promise.all(
      this.#workers.splice(0).map(async (w) => {
        this.#failAll(w, closed);
        await w.thread.terminate();
      }),
    );
  }

  #pick(): PoolWorker {
    let best: PoolWorker | undefined;
    for (const w of this.#workers) {
      if (best === undefined || w.streams.size < best.streams.size) best = w;
    }
    if (best !== undefined && (best.streams.size === 0 || this.#workers.length >= this.size)) {
      return best;
    }
    return this.#start();
  }

  #start(): PoolWorker {
    const thread = new Worker(workerScript(), {
      // Little JS runs there: a small young generation keeps each thread's memory small.
      resourceLimits: { maxYoungGenerationSizeMb: 2 },
      stdout: false,
      stderr: false,
    });
    const worker: PoolWorker = { thread, streams: new Map() };
    thread.unref();
    thread.on('message', (reply: DecodeReply) => {
      const listener = worker.streams.get(reply.id);
      if (listener === undefined) return;
      if (reply.type === 'end' || reply.type === 'error') worker.streams.delete(reply.id);
      if (worker.streams.size === 0) thread.unref();
      listener.onReply(reply);
    });
    const fail = (err: Error) => {
      const at = this.#workers.indexOf(worker);
      if (at >= 0) this.#workers.splice(at, 1);
      this.#failAll(worker, err);
    };
    thread.on('error', fail);
    thread.on('exit', (code) => fail(new Error(`decode worker exited with code ${code}`)));
    this.#workers.push(worker);
    return worker;
  }

  #failAll(worker: PoolWorker, err: Error): void {
    const listeners = [...worker.streams.values()];
    worker.streams.clear();
    worker.thread.unref();
    for (const listener of listeners) listener.onFail(err);
  }
}

let shared: DecodeWorkerPool | undefined;

/** The process's one pool, made on first use. */
export function sharedDecodeWorkerPool(): DecodeWorkerPool {
  shared ??= new DecodeWorkerPool();
  return shared;
}
