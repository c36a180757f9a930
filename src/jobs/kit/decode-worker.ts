// The code of one decode worker thread (started by DecodeWorkerPool). Each stream it is given
// keeps one long-lived gzip or zstd decoding context and two SharedArrayBuffers the main thread
// made for it, cut into slots: compressed input slots the main thread fills and names in a
// message, and 1 MiB output slots the main thread lends (it has room for what they will hold).
// The worker decodes into a lent slot and names it back when it is full; without a lent slot it
// stops, so a small input that decodes to gigabytes holds no more than the slots. The decode loop
// is synchronous (one native call per slot filled), so the main thread sees one message per MiB
// instead of a thread-pool round trip, a callback and a stream push per 256 KiB; nothing is
// allocated or handed over per message.
//
// Erasable TypeScript only (no enums, no parameter properties) and no imports but Node's own:
// Node runs this file as it is under the tests, and as the compiled .js otherwise.
import { parentPort } from 'node:worker_threads';
import { constants, Gunzip, ZstdDecompress } from 'node:zlib';

/** What the main thread sends (see `DecodeWorkerPool`). */
type Command =
  | {
      type: 'open';
      id: number;
      codec: 'gzip' | 'zstd';
      input: SharedArrayBuffer;
      inputSlot: number;
      output: SharedArrayBuffer;
      outputSlot: number;
    }
  | { type: 'input'; id: number; slot: number; length: number }
  | { type: 'end'; id: number }
  | { type: 'credit'; id: number; slot: number }
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
  inputArea: SharedArrayBuffer;
  inputSlot: number;
  outputArea: SharedArrayBuffer;
  outputSlot: number;
  /** Compressed inputs not yet consumed (slot and bytes), the first one read from `inAt`. */
  inputs: { slot: number; bytes: Uint8Array }[];
  inAt: number;
  /** Whether the last input has arrived. */
  ended: boolean;
  /** Whether the decoder has said its last word (finished, or stopped at the end of the data). */
  done: boolean;
  /** The output slot being filled, and the empty ones the main thread lent. */
  out: { slot: number; bytes: Uint8Array } | undefined;
  outAt: number;
  free: number[];
}

const streams = new Map<number, Decoding>();
const EMPTY = new Uint8Array(0);

function post(message: object): void {
  parentPort?.postMessage(message);
}

function open(command: Extract<Command, { type: 'open' }>): void {
  const { id, codec } = command;
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
    inputArea: command.input,
    inputSlot: command.inputSlot,
    outputArea: command.output,
    outputSlot: command.outputSlot,
    inputs: [],
    inAt: 0,
    ended: false,
    done: false,
    out: undefined,
    outAt: 0,
    free: [],
  });
}

/** Names the output slot back to the main thread with what was decoded into it, if anything. */
function flushOutput(d: Decoding): void {
  const out = d.out;
  if (out === undefined || d.outAt === 0) return;
  post({ type: 'output', id: d.id, slot: out.slot, length: d.outAt });
  d.out = undefined;
  d.outAt = 0;
}

/** The slot to decode into: the one being filled, or the next one lent, or none. */
function outputSlot(d: Decoding): Uint8Array | undefined {
  if (d.out === undefined) {
    const slot = d.free.shift();
    if (slot === undefined) return undefined;
    d.out = { slot, bytes: new Uint8Array(d.outputArea, slot * d.outputSlot, d.outputSlot) };
    d.outAt = 0;
  }
  return d.out.bytes;
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
    const out = outputSlot(d);
    if (out === undefined) return;
    const chunk = input?.bytes ?? EMPTY;
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

/** Tells the main thread that these input slots are read: it may fill them again. */
function consumed(d: Decoding, inputs: { slot: number }[]): void {
  if (inputs.length > 0) post({ type: 'consumed', id: d.id, slots: inputs.map((i) => i.slot) });
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
      open(command);
      return;
    }
    const d = streams.get(id);
    if (d === undefined) return;
    switch (command.type) {
      case 'input': {
        const { slot, length } = command;
        const bytes = new Uint8Array(d.inputArea, slot * d.inputSlot, length);
        if (d.done) consumed(d, [{ slot }]);
        else d.inputs.push({ slot, bytes });
        break;
      }
      case 'end':
        d.ended = true;
        break;
      case 'credit':
        d.free.push(command.slot);
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
