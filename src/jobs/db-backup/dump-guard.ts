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
 * Watches the dump tool's output on its way to the compressor: counts the bytes and keeps the
 * first and last few. Only when the tool exited 0, wrote at least `minBytes` and its output
 * looks complete (the format's signature or closing line) does `verdict()` resolve; otherwise
 * it rejects, and the caller fails the stream instead of ending it, so the upload behind it is
 * aborted instead of completed and no object appears. This is what keeps a failed or truncated
 * dump from ever becoming a backup.
 */
export class DumpGuard {
  /** Bytes the dump tool wrote so far. */
  bytes = 0;
  readonly #head = Buffer.alloc(HEAD_BYTES);
  #headLength = 0;
  readonly #tail = Buffer.alloc(TAIL_BYTES);
  #tailLength = 0;
  readonly #options: DumpGuardOptions;

  constructor(options: DumpGuardOptions) {
    this.#options = options;
  }

  /** Takes note of the next piece of output; copies what it keeps (`chunk` may be reused). */
  observe(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.#options.onBytes?.(chunk.length);
    if (this.#headLength < HEAD_BYTES) {
      this.#headLength += chunk.copy(
        this.#head,
        this.#headLength,
        0,
        HEAD_BYTES - this.#headLength,
      );
    }
    if (chunk.length >= TAIL_BYTES) {
      chunk.copy(this.#tail, 0, chunk.length - TAIL_BYTES);
      this.#tailLength = TAIL_BYTES;
    } else {
      const keep = Math.min(this.#tailLength, TAIL_BYTES - chunk.length);
      this.#tail.copyWithin(0, this.#tailLength - keep, this.#tailLength);
      chunk.copy(this.#tail, keep);
      this.#tailLength = keep + chunk.length;
    }
  }

  /**
   * Once the output has ended: waits for the tool to exit, then resolves when what it wrote is
   * a complete dump, or rejects with what is wrong (the tool's own words when it failed).
   */
  async verdict(): Promise<void> {
    const { plan, exited, stderr, minBytes } = this.#options;
    const exit = await exited;
    if (exit.code !== 0) throw toolFailed(plan.command.tool, exit, stderr());
    if (this.bytes < minBytes) {
      throw incomplete(
        plan,
        `the dump is ${this.bytes} bytes, below the minimum of ${minBytes} (--min-dump-bytes)`,
      );
    }
    const problem = plan.completeness(
      this.#head.subarray(0, this.#headLength),
      this.#tail.subarray(0, this.#tailLength),
    );
    if (problem !== undefined) throw incomplete(plan, problem);
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
