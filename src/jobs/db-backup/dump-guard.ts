import { Transform, type TransformCallback } from 'node:stream';
import { ExitCode, S3WorkerError } from '../../errors.js';
import type { DumpPlan } from './engines/engine.js';
import { type ToolExit, toolFailed } from './tool-process.js';

const HEAD_BYTES = 16;
const TAIL_BYTES = 512;

/** Options of {@link DumpGuard}. */
export interface DumpGuardOptions {
  plan: DumpPlan;
  /** Settles when the dump tool has exited. */
  exited: Promise<ToolExit>;
  /** The tool's last stderr lines (secrets masked), for the error. */
  stderr: () => string;
  /** A dump smaller than this is refused. */
  minBytes: number;
  /** Called with each chunk's size as it passes (progress). */
  onBytes?: (bytes: number) => void;
}

/**
 * The first stage after the dump tool's stdout: passes the bytes through and counts them, and
 * holds the end of the stream back until the tool has exited. Only when it exited 0, wrote at
 * least `minBytes` and its output looks complete (the format's signature or closing line) does
 * the stream end normally; otherwise it fails, so the upload behind it is aborted instead of
 * completed and no object appears. This is what keeps a failed or truncated dump from ever
 * becoming a backup.
 */
export class DumpGuard extends Transform {
  /** Bytes the dump tool wrote so far. */
  bytes = 0;
  #head = Buffer.alloc(0);
  #tail = Buffer.alloc(0);
  readonly #options: DumpGuardOptions;

  constructor(options: DumpGuardOptions) {
    super();
    this.#options = options;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.#options.onBytes?.(chunk.length);
    if (this.#head.length < HEAD_BYTES) {
      this.#head = Buffer.concat([this.#head, chunk.subarray(0, HEAD_BYTES - this.#head.length)]);
    }
    this.#tail =
      chunk.length >= TAIL_BYTES
        ? Buffer.from(chunk.subarray(chunk.length - TAIL_BYTES))
        : Buffer.concat([this.#tail, chunk]).subarray(-TAIL_BYTES);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const { plan, exited, stderr, minBytes } = this.#options;
    exited.then(
      (exit) => {
        if (exit.code !== 0) {
          callback(toolFailed(plan.command.tool, exit, stderr()));
          return;
        }
        if (this.bytes < minBytes) {
          callback(
            incomplete(
              plan,
              `the dump is ${this.bytes} bytes, below the minimum of ${minBytes} (--min-dump-bytes)`,
            ),
          );
          return;
        }
        const problem = plan.completeness(this.#head, this.#tail);
        callback(problem === undefined ? null : incomplete(plan, problem));
      },
      (err: unknown) => callback(err as Error),
    );
  }
}

function incomplete(plan: DumpPlan, problem: string): S3WorkerError {
  return new S3WorkerError(
    `${plan.command.tool} exited 0 but its output is not a complete dump: ${problem}`,
    {
      code: 'DUMP_INCOMPLETE',
      exitCode: ExitCode.ObjectsFailed,
      context: { tool: plan.command.tool },
      hint: 'nothing was stored; check the tool and the database, then run again',
    },
  );
}
