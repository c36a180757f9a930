import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { S3WorkerError } from '../../errors.js';
import { writeFileDurably } from './durable-file.js';
import type { FilePosition } from './source-event.js';

/** What a batch changes in the checkpoint once S3 has acknowledged it. */
export interface PositionChanges {
  seq: number;
  positions: FilePosition[];
  forget: string[];
}

interface CheckpointFile {
  version: 1;
  /** The next batch number to hand out: keys never reuse one. */
  nextSeq: number;
  files: FilePosition[];
}

const FILE_NAME = 'checkpoint.json';

/**
 * The acknowledged read positions: for every file, the offset up to which its lines are in S3
 * (or, before the first acknowledgement, where the first start began reading it), and the next
 * batch number. Stored as one JSON file in the spool folder, replaced atomically
 * and fsynced after each acknowledged batch (batches are seconds to minutes apart, so this costs
 * nothing measurable).
 */
export class Checkpoint {
  /** Positions by file id. */
  readonly files: Map<string, FilePosition>;
  /** True when a checkpoint was found at start: the shipper ran here before. */
  readonly existed: boolean;
  #nextSeq: number;

  private constructor(
    private readonly path: string,
    state: CheckpointFile | undefined,
  ) {
    this.existed = state !== undefined;
    this.#nextSeq = state?.nextSeq ?? 0;
    this.files = new Map((state?.files ?? []).map((f) => [f.id, f]));
  }

  /** Reads the checkpoint of `dir`; an absent one is a first start. */
  static async load(dir: string): Promise<Checkpoint> {
    const path = join(dir, FILE_NAME);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Checkpoint(path, undefined);
      throw err;
    }
    let state: CheckpointFile;
    try {
      state = JSON.parse(text) as CheckpointFile;
      if (state.version !== 1 || !Array.isArray(state.files)) throw new Error('unknown layout');
    } catch (err) {
      throw new S3WorkerError(`the checkpoint ${path} is not readable: ${(err as Error).message}`, {
        code: 'CHECKPOINT_CORRUPT',
        cause: err,
        context: { path },
        hint: 'move it away to start over (files are then read as on a first start, which may ship lines again)',
      });
    }
    return new Checkpoint(path, state);
  }

  /** The next batch number (at least `floor`, so numbers spooled but not yet acknowledged are never reused). */
  nextSeq(floor = 0): number {
    return Math.max(this.#nextSeq, floor);
  }

  /**
   * Records where a first start begins reading each file (in memory); `save` makes it durable.
   * Once saved, the checkpoint exists, so every later start resumes from these positions and
   * reads files it has no position for from their beginning.
   */
  recordStart(positions: readonly FilePosition[]): void {
    for (const p of positions) this.files.set(p.id, p);
  }

  /** Applies one acknowledged batch (in memory); `save` makes it durable. */
  apply(changes: PositionChanges): void {
    for (const p of changes.positions) this.files.set(p.id, p);
    for (const id of changes.forget) this.files.delete(id);
    this.#nextSeq = Math.max(this.#nextSeq, changes.seq + 1);
  }

  /** Writes the checkpoint atomically and durably. */
  async save(): Promise<void> {
    const state: CheckpointFile = {
      version: 1,
      nextSeq: this.#nextSeq,
      files: [...this.files.values()],
    };
    await writeFileDurably(this.path, `${JSON.stringify(state)}\n`);
  }
}
