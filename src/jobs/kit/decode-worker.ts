// The code of one decode worker thread (started by DecodeWorkerPool). Each stream it is given
// keeps one long-lived gzip or zstd decoding context; the compressed bytes arrive in messages,
// and the decoded bytes go back in 1 MiB buffers handed over without a copy, only as many as the
// main thread has room for (its credits): a small input that decodes to gigabytes stops here,
// holding one buffer, until the reader catches up. The decode loop is synchronous (one native
// call per buffer filled), so the main thread sees one message per MiB instead of a thread-pool
// round trip, a callback and a stream push per 256 KiB.
//
// Erasable TypeScript only (no enums, no parameter properties) and no imports but Node's own:
// Node runs this file as it is under the tests, and as the compiled .js otherwise.
import { parentPort } from 'node:worker_threads';
import { constants, Gunzip, ZstdDecompress } from 'node:zlib';

/** What the main thread sends (see `DecodeWorkerPool`). */
type Command =
  | { type: 'open'; id: number; codec: 'gzip' | 'zstd' }
  | { type: 'input'; id: number; input: ArrayBuffer; length: number }
  | { type: 'end'; id: number }
  | { type: 'credit'; id: number; output: ArrayBuffer }
  | { type: 'close'; id: number };

/** The native handle inside Node's zlib stream objects and the counts it writes back. */
interface Handle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    output: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
}

/** One stream being decoded. */
interface Decoding {
  id: number;
  /** The zlib stream object around the handle: a failed write destroys it with the error. */
  engine: Gunzip | ZstdDecompress;
  handle: Handle;
  /** [output bytes left, input bytes left] after each write. */
  state: Uint32Array;
  flushFlag: number;
  finishFlag: number;
  /** Compressed inputs not yet consumed, the first one read from `inAt`. */
  inputs: Uint8Array[];
  inAt: number;
  /** Whether the last input has arrived. */
  ended: boolean;
  /** Whether the decoder has said its last word (finished, or stopped at the end of the data). */
  done: boolean;
  /** The buffer being filled, and empty ones the main thread lent (it has room for them). */
  out: Buffer | undefined;
  outAt: number;
  free: ArrayBuffer[];
}

const streams = new Map<number, Decoding>();
const EMPTY = new Uint8Array(0);

function post(message: object, transfer?: ArrayBuffer[]): void {
  parentPort?.postMessage(message, transfer ?? []);
}

function open(id: number, codec: 'gzip' | 'zstd'): void {
  const engine = codec === 'gzip' ? new Gunzip() : new ZstdDecompress();
  const inside = engine as unknown as { _handle?: Partial<Handle>; _writeState?: unknown };
  const handle = inside._handle;
  if (typeof handle?.writeSync !== 'function' || !(inside._writeState instanceof Uint32Array)) {
    throw new Error("this Node.js version's zlib streams do not expose their native handle");
  }
  // Errors are read from `engine.errored` after each write; the event only must not go unheard.
  engine.on('error', () => {});
  streams.set(id, {
    id,
    engine,
    handle: handle as Handle,
    state: inside._writeState,
    flushFlag: codec === 'gzip' ? constants.Z_NO_FLUSH : constants.ZSTD_e_continue,
    finishFlag: codec === 'gzip' ? constants.Z_FINISH : constants.ZSTD_e_end,
    inputs: [],
    inAt: 0,
    ended: false,
    done: false,
    out: undefined,
    outAt: 0,
    free: [],
  });
}

/** Hands the output buffer back to the main thread with what was decoded into it, if anything. */
function flushOutput(d: Decoding): void {
  const out = d.out;
  if (out === undefined || d.outAt === 0) return;
  post({ type: 'output', id: d.id, output: out.buffer, length: d.outAt }, [
    out.buffer as ArrayBuffer,
  ]);
  d.out = undefined;
  d.outAt = 0;
}

/** The buffer to decode into: the one being filled, or the next one lent, or none. */
function outputBuffer(d: Decoding): Buffer | undefined {
  if (d.out === undefined) {
    const lent = d.free.shift();
    if (lent === undefined) return undefined;
    d.out = Buffer.from(lent);
    d.outAt = 0;
  }
  return d.out;
}

/**
 * Decodes what it can: until the output has no room left (no credits), the input runs out, or
 * the stream is done; at the end, says so. Throws the decoder's error.
 */
function pump(d: Decoding): void {
  while (!d.done) {
    const input = d.inputs[0];
    if (input === undefined && !d.ended) {
      // Waiting for input: what is decoded so far goes out now, not after the next input.
      flushOutput(d);
      return;
    }
    const out = outputBuffer(d);
    if (out === undefined) return;
    const chunk = input ?? EMPTY;
    const inLeft = chunk.length - d.inAt;
    const outLeft = out.length - d.outAt;
    d.handle.writeSync(
      input === undefined ? d.finishFlag : d.flushFlag,
      chunk,
      d.inAt,
      inLeft,
      out,
      d.outAt,
      outLeft,
    );
    if (d.engine.destroyed) throw d.engine.errored ?? new Error('decoder closed');
    const outAfter = d.state[0]!;
    const inAfter = d.state[1]!;
    d.outAt += outLeft - outAfter;
    d.inAt += inLeft - inAfter;
    if (outAfter === 0) {
      flushOutput(d);
    } else if (input === undefined) {
      // The finishing call left output room: everything is out.
      d.done = true;
    } else if (inAfter > 0) {
      // Room for output and input left over: the decoder has reached the end of its data and
      // takes no more (gzip: zero bytes after the last member, which `gzip -d` ignores too).
      d.done = true;
      consumed(d, d.inputs.splice(0));
    } else {
      consumed(d, [d.inputs.shift()!]);
      d.inAt = 0;
    }
  }
  if (d.done) flushOutput(d);
  if (d.done && d.ended) {
    streams.delete(d.id);
    d.engine.close();
    post({ type: 'end', id: d.id });
  }
}

/** Tells the main thread that these inputs are read (it may send more) and hands their buffers back. */
function consumed(d: Decoding, inputs: Uint8Array[]): void {
  let bytes = 0;
  const buffers: ArrayBuffer[] = [];
  for (const input of inputs) {
    bytes += input.length;
    buffers.push(input.buffer as ArrayBuffer);
  }
  if (bytes > 0) post({ type: 'consumed', id: d.id, bytes, buffers }, buffers);
}

function fail(id: number, err: unknown): void {
  const d = streams.get(id);
  streams.delete(id);
  d?.engine.close();
  const { message, code, errno } = err as { message?: unknown; code?: unknown; errno?: unknown };
  post({ type: 'error', id, error: { message: String(message ?? err), code, errno } });
}

parentPort?.on('message', (command: Command) => {
  const { id } = command;
  try {
    if (command.type === 'open') {
      open(id, command.codec);
      return;
    }
    const d = streams.get(id);
    if (d === undefined) return;
    switch (command.type) {
      case 'input': {
        const input = new Uint8Array(command.input, 0, command.length);
        if (d.done) consumed(d, [input]);
        else d.inputs.push(input);
        break;
      }
      case 'end':
        d.ended = true;
        break;
      case 'credit':
        d.free.push(command.output);
        break;
      case 'close':
        streams.delete(id);
        d.engine.close();
        return;
    }
    pump(d);
  } catch (err) {
    fail(id, err);
  }
});
