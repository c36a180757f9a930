import { createHash } from 'node:crypto';

const INITIAL_SLOTS = 1 << 12;

/**
 * The output keys a run has handed out, so that two inputs never write one output silently
 * (`a//b` and `a/b` normalise to the same key, a template such as `{dir}/{name}.json` maps
 * `a.csv` and `a.tsv` to one key, a prefix without a slash maps `logs2/a` and `logs/logs2/a`
 * alike). The first input to claim a key writes it; every later one is refused.
 *
 * Memory: keys are kept as 64-bit hashes in an open-addressing table at most half full, about
 * 16 bytes per key (16 MiB per million outputs), never the keys themselves. Two different keys
 * share a hash with a probability of about n² / 2⁶⁵ (3 × 10⁻⁶ for ten million keys); such a
 * false collision fails one object with a clear reason, it never writes over another.
 */
export class OutputKeyClaims {
  #hi = new Uint32Array(INITIAL_SLOTS);
  #lo = new Uint32Array(INITIAL_SLOTS);
  #size = 0;

  /** Keys claimed so far. */
  get size(): number {
    return this.#size;
  }

  /** Claims `key`: true the first time, false when it was claimed before. */
  claim(key: string): boolean {
    const digest = createHash('sha256').update(key).digest();
    const hi = digest.readUInt32LE(0);
    // 0/0 marks an empty slot.
    const lo = digest.readUInt32LE(4) || 1;
    if (!this.#insert(hi, lo)) return false;
    this.#size++;
    if (this.#size * 2 > this.#hi.length) this.#grow();
    return true;
  }

  #insert(hi: number, lo: number): boolean {
    const mask = this.#hi.length - 1;
    for (let i = (hi ^ lo) & mask; ; i = (i + 1) & mask) {
      if (this.#lo[i] === 0) {
        this.#hi[i] = hi;
        this.#lo[i] = lo;
        return true;
      }
      if (this.#hi[i] === hi && this.#lo[i] === lo) return false;
    }
  }

  #grow(): void {
    const oldHi = this.#hi;
    const oldLo = this.#lo;
    this.#hi = new Uint32Array(oldHi.length * 2);
    this.#lo = new Uint32Array(oldLo.length * 2);
    for (let i = 0; i < oldLo.length; i++) {
      if (oldLo[i] !== 0) this.#insert(oldHi[i]!, oldLo[i]!);
    }
  }
}
