import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { ExitCode, S3WorkerError } from '../../errors.js';

/** The longest Unix socket path Linux takes (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/** Bytes read from the tool at a time, into one buffer reused for the whole dump. */
export const TOOL_OUTPUT_BUFFER = 256 * 1024;

/**
 * The stdout of a dump tool, read into one buffer that every read reuses. A child's stdout
 * read through `spawn`'s pipe arrives as a fresh 64 KiB buffer per read; a 300 MB dump makes
 * thousands of them, and V8 frees such memory lazily (it collects only after tens of MiB of
 * it have piled up), which measured as 80 MiB of dead buffers and 180 MiB peak RSS for a
 * backup whose compressed output is 2 MB. Here the bytes land in one buffer and are handed to
 * a stage that copies them (a compressor's block) before the next read overwrites them.
 *
 * The pipe is a connected pair of Unix sockets (Node has no `socketpair`): a listening socket
 * in a private 0700 folder, which only this user can reach, is connected to once and closed at
 * once. `childEnd` goes to `spawn` as the child's stdout; `handedOver()` closes this process's
 * copy, so the end of the dump arrives when the child (and whatever it started) has exited.
 */
export class ToolOutput {
  /** The end to give `spawn` as the child's stdout. */
  readonly childEnd: Socket;
  readonly #reader: Socket;
  readonly #buffer: Buffer;
  /** Where reads go once `pumpTo` is called. */
  #onData: ((view: Buffer) => boolean) | undefined;
  /** Bytes read before `pumpTo` was called (kept in the buffer, with reading paused). */
  #early = 0;

  private constructor(reader: Socket, childEnd: Socket, buffer: Buffer) {
    this.#reader = reader;
    this.childEnd = childEnd;
    this.#buffer = buffer;
  }

  /**
   * Opens the pair; `dir` must be private to this user (the run's secret folder) and its path
   * short enough for a socket address (about 100 bytes).
   */
  static async open(dir: string, bufferSize = TOOL_OUTPUT_BUFFER): Promise<ToolOutput> {
    const path = join(dir, `out-${process.pid}-${Math.random().toString(36).slice(2, 10)}.sock`);
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      throw new S3WorkerError(
        `the run's temporary folder is too deep for a Unix socket path (${path}: ${Buffer.byteLength(path)} bytes, at most ${MAX_SOCKET_PATH})`,
        {
          code: 'TMPDIR_TOO_LONG',
          exitCode: ExitCode.Config,
          hint: 'point S3WORKER_TMPDIR at a folder with a shorter path (for example /tmp)',
        },
      );
    }
    const server = createServer();
    const failed = new AbortController();
    try {
      server.listen(path);
      await untilListening(server, failed.signal);
      const buffer = Buffer.allocUnsafeSlow(bufferSize);
      let output: ToolOutput | undefined;
      const reader = connect({
        path,
        onread: {
          buffer,
          callback: (n: number) => {
            if (output === undefined) throw new Error('ToolOutput: read before it was opened');
            return output.#read(n);
          },
        },
      });
      // A connection that fails (it should not: the folder is this user's) must not leave
      // this waiting for one that never comes.
      const [childEnd] = (await Promise.race([
        once(server, 'connection', { signal: failed.signal }),
        once(reader, 'error', { signal: failed.signal }).then(([err]) => {
          throw err;
        }),
      ])) as [Socket];
      output = new ToolOutput(reader, childEnd, buffer);
      return output;
    } finally {
      failed.abort();
      server.close();
      await rm(path, { force: true });
    }
  }

  /** Call once `spawn` has returned: the child holds its own copy of `childEnd` now. */
  handedOver(): void {
    this.childEnd.destroy();
  }

  /**
   * Reads to the end of the tool's output, passing each piece to `observe` (which must not keep
   * it) and then writing it to `sink`, and reads again only once the sink has the bytes (its
   * write has nothing pending, or it called back): the sink must have copied or consumed them
   * by then (a compressor filling its block does; a stage that passes chunks on as they are
   * does not). Resolves at the end of the output, with the sink not ended; rejects when the
   * sink fails or is destroyed, or reading fails.
   */
  pumpTo(sink: Writable, observe?: (view: Buffer) => void): Promise<void> {
    if (this.#onData !== undefined) throw new Error('ToolOutput: pumpTo called twice');
    const reader = this.#reader;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: Error | null) => {
        if (settled) return;
        settled = true;
        reader.off('end', onEnd);
        reader.off('error', finish);
        sink.off('close', onSinkClose);
        if (err) {
          reader.destroy();
          reject(err);
        } else {
          resolve();
        }
      };
      const onEnd = () => finish();
      const onSinkClose = () =>
        finish(sink.errored ?? new Error('the stage after the dump tool closed before its end'));
      reader.once('end', onEnd);
      reader.once('error', finish);
      sink.once('close', onSinkClose);
      this.#onData = (view) => {
        observe?.(view);
        let resumeWhenWritten = false;
        sink.write(view, (err) => {
          if (err) finish(err);
          else if (resumeWhenWritten && !settled) reader.resume();
        });
        // A stage that took the bytes at once (a compressor copying them into a block with
        // room) has nothing pending: read on. Otherwise pause until it has them, since the next
        // read reuses the buffer. A pause and resume per read cost two epoll_ctl calls and
        // several ticks; a dump arrives in pieces of about 16 KB.
        if (sink.writableLength === 0) return true;
        resumeWhenWritten = true;
        return false;
      };
      if (this.#early > 0) {
        const n = this.#early;
        this.#early = 0;
        this.#onData(this.#buffer.subarray(0, n));
      } else {
        reader.resume();
      }
    });
  }

  /** Stops reading; the child gets EPIPE on its next write. Idempotent. */
  destroy(): void {
    this.#reader.destroy();
    this.childEnd.destroy();
  }

  #read(n: number): boolean {
    if (this.#onData === undefined) {
      this.#early = n;
      return false;
    }
    return this.#onData(this.#buffer.subarray(0, n));
  }
}

/**
 * A stage that passes each chunk on in a buffer of its own: the first stage behind
 * {@link ToolOutput.pumpTo} when nothing compresses (the piece it is given is overwritten by
 * the next read).
 */
export function copyStage(): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      done(null, Buffer.from(chunk));
    },
  });
}

/** Resolves once `server` listens; rejects with its error (a path it cannot bind). */
async function untilListening(server: Server, signal: AbortSignal): Promise<void> {
  await Promise.race([
    once(server, 'listening', { signal }),
    once(server, 'error', { signal }).then(([err]) => {
      throw err;
    }),
  ]);
}
