import { createHash } from 'node:crypto';

const INITIAL_SLOTS = 1 << 12;

/**
 * The output keys a run has handed out, so that two inputs never write one output silently
 * (`a//b` and `a/b` normalise to the same key, a template such as `{dir}/{name}.json` maps
 * `a.csv` and `a.tsv` to one key, a prefix without a slash maps `logs2/a` and `logs/logs2/a`
 * alike). The first input to claim a key writes it; every later one is refused, unless it is
 * the same input again (queue mode sees one source key once per event: each version of it).
 *
 * Memory: keys and their inputs are kept as 64-bit hashes in an open-addressing table at most
 * half full, about 32 bytes per key (32 MiB per million outputs), never the keys themselves. Two different keys
 * share a hash with a probability of about n² / 2⁶⁵ (3 × 10⁻⁶ for ten million keys); such a
 * false collision fails one object with a clear reason, it never writes over another.
 */
export class OutputKeyClaims {
  #hi = new Uint32Array(INITIAL_SLOTS);
  #lo = new Uint32Array(INITIAL_SLOTS);
  /** The hash of the input that claimed each slot's key. */
  #ownerHi = new Uint32Array(INITIAL_SLOTS);
  #ownerLo = new Uint32Array(INITIAL_SLOTS);
  #size = 0;

  /** Keys claimed so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * Claims `key` for the input `owner` (its source key): true the first time and for the same
   * owner again, false when another owner claimed it before.
   */
  claim(key: string, owner: string): boolean {
    const [hi, lo] = hash64(key);
    const [ownerHi, ownerLo] = hash64(owner);
    const slot = this.#find(hi, lo);
    if (this.#lo[slot] !== 0)
      return this.#ownerHi[slot] === ownerHi && this.#ownerLo[slot] === ownerLo;
    this.#set(slot, hi, lo, ownerHi, ownerLo);
    this.#size++;
    if (this.#size * 2 > this.#hi.length) this.#grow();
    return true;
  }

  /** The slot holding `hi`/`lo`, or the empty slot where it would go. */
  #find(hi: number, lo: number): number {
    const mask = this.#hi.length - 1;
    for (let i = (hi ^ lo) & mask; ; i = (i + 1) & mask) {
      if (this.#lo[i] === 0 || (this.#hi[i] === hi && this.#lo[i] === lo)) return i;
    }
  }

  #set(slot: number, hi: number, lo: number, ownerHi: number, ownerLo: number): void {
    this.#hi[slot] = hi;
    this.#lo[slot] = lo;
    this.#ownerHi[slot] = ownerHi;
    this.#ownerLo[slot] = ownerLo;
  }

  #grow(): void {
    const [hi, lo, ownerHi, ownerLo] = [this.#hi, this.#lo, this.#ownerHi, this.#ownerLo];
    const slots = hi.length * 2;
    this.#hi = new Uint32Array(slots);
    this.#lo = new Uint32Array(slots);
    this.#ownerHi = new Uint32Array(slots);
    this.#ownerLo = new Uint32Array(slots);
    for (let i = 0; i < lo.length; i++) {
      if (lo[i] !== 0)
        this.#set(this.#find(hi[i]!, lo[i]!), hi[i]!, lo[i]!, ownerHi[i]!, ownerLo[i]!);
    }
  }
}

/** 64 bits of a string's SHA-256, as two words; the low word is never 0 (0 marks an empty slot). */
function hash64(text: string): [number, number] {
  const digest = createHash('sha256').update(text).digest();
  return [digest.readUInt32LE(0), digest.readUInt32LE(4) || 1];
}
