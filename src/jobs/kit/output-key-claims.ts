import { createHash } from 'node:crypto';

const INITIAL_SLOTS = 1 << 12;

/**
 * The output keys of the objects in flight, so that two inputs never write one output silently
 * (`a//b` and `a/b` normalise to the same key, a template such as `{dir}/{name}.json` maps
 * `a.csv` and `a.tsv` to one key, a prefix without a slash maps `logs2/a` and `logs/logs2/a`
 * alike). The first input to claim a key writes it; every later one is refused while it holds
 * the key, unless it is the same input again (queue mode sees one source key once per event:
 * each version of it).
 *
 * A run `release`s each claim once its object settled, in every mode (listing, keys, queue):
 * the table holds only the keys in flight, at most the concurrency plus the items queued ahead
 * of it, whatever the number of objects. An output written earlier is guarded by S3, not by
 * this table: it records its source in its metadata, and the next input for its key meets it
 * at the HeadObject before its write or at its refused `If-None-Match` write, and fails as a
 * collision when another source is recorded (stream-transform's `processObject`). The claims
 * cover what S3 cannot tell yet: two inputs for one key in flight at once, both finding it
 * empty. A dry run, which writes nothing S3 could refuse with, keeps every claim to its end.
 *
 * Memory: keys and their inputs are kept as 64-bit hashes in an open-addressing table at most
 * half full, about 32 bytes per key held, never the keys themselves; the table does not
 * shrink, so it stays the size of the most keys held at once (the initial 64 KiB for any run
 * of up to 2,048 objects in flight; a dry run's grows to 32 MiB per million outputs).
 * Two different keys share a hash with a probability of about n² / 2⁶⁵ for n keys held at once;
 * such a false collision fails one object with a clear reason, it never writes over another.
 */
export class OutputKeyClaims {
  #hi = new Uint32Array(INITIAL_SLOTS);
  #lo = new Uint32Array(INITIAL_SLOTS);
  /** The hash of the input that claimed each slot's key. */
  #ownerHi = new Uint32Array(INITIAL_SLOTS);
  #ownerLo = new Uint32Array(INITIAL_SLOTS);
  /**
   * Claims beyond the first of a key its owner holds more than once at a time (two events for
   * one source key in flight together), by the key's hash: rare, so kept beside the table.
   */
  readonly #extraHolds = new Map<string, number>();
  #size = 0;

  /** Keys claimed and not released. */
  get size(): number {
    return this.#size;
  }

  /** Bytes the table takes (16 per slot; it never shrinks). */
  get tableBytes(): number {
    return this.#hi.byteLength * 4;
  }

  /**
   * Claims `key` for the input `owner` (its source key): true the first time and for the same
   * owner again, false when another owner holds it. Each true is one hold, undone by one
   * `release` when the caller releases at all.
   */
  claim(key: string, owner: string): boolean {
    const [hi, lo] = hash64(key);
    const [ownerHi, ownerLo] = hash64(owner);
    const slot = this.#find(hi, lo);
    if (this.#lo[slot] !== 0) {
      if (this.#ownerHi[slot] !== ownerHi || this.#ownerLo[slot] !== ownerLo) return false;
      const id = holdId(hi, lo);
      this.#extraHolds.set(id, (this.#extraHolds.get(id) ?? 0) + 1);
      return true;
    }
    this.#set(slot, hi, lo, ownerHi, ownerLo);
    this.#size++;
    if (this.#size * 2 > this.#hi.length) this.#grow();
    return true;
  }

  /**
   * Gives back one hold of `key` (claimed before); once its last hold is given back, any input
   * may claim it. Releasing a key not held does nothing.
   */
  release(key: string): void {
    const [hi, lo] = hash64(key);
    const slot = this.#find(hi, lo);
    if (this.#lo[slot] === 0) return;
    const id = holdId(hi, lo);
    const extra = this.#extraHolds.get(id);
    if (extra !== undefined) {
      if (extra > 1) this.#extraHolds.set(id, extra - 1);
      else this.#extraHolds.delete(id);
      return;
    }
    this.#remove(slot);
    this.#size--;
  }

  /** The slot holding `hi`/`lo`, or the empty slot where it would go. */
  #find(hi: number, lo: number): number {
    const mask = this.#hi.length - 1;
    for (let i = home(hi, lo, mask); ; i = (i + 1) & mask) {
      if (this.#lo[i] === 0 || (this.#hi[i] === hi && this.#lo[i] === lo)) return i;
    }
  }

  #set(slot: number, hi: number, lo: number, ownerHi: number, ownerLo: number): void {
    this.#hi[slot] = hi;
    this.#lo[slot] = lo;
    this.#ownerHi[slot] = ownerHi;
    this.#ownerLo[slot] = ownerLo;
  }

  /**
   * Empties `slot` and moves later keys of its run back into the hole, so every key stays
   * reachable from its home slot without tombstones (linear probing's backward-shift delete).
   */
  #remove(slot: number): void {
    const mask = this.#hi.length - 1;
    let hole = slot;
    for (let i = (slot + 1) & mask; this.#lo[i] !== 0; i = (i + 1) & mask) {
      const hi = this.#hi[i]!;
      const lo = this.#lo[i]!;
      // The key at i may fill the hole only if the hole lies between its home slot and i.
      if (((i - home(hi, lo, mask)) & mask) < ((i - hole) & mask)) continue;
      this.#set(hole, hi, lo, this.#ownerHi[i]!, this.#ownerLo[i]!);
      hole = i;
    }
    this.#set(hole, 0, 0, 0, 0);
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

/** The slot where a probe for `hi`/`lo` starts. */
function home(hi: number, lo: number, mask: number): number {
  return (hi ^ lo) & mask;
}

/** A key's hash as a Map key. */
function holdId(hi: number, lo: number): string {
  return `${hi}:${lo}`;
}

/** 64 bits of a string's SHA-256, as two words; the low word is never 0 (0 marks an empty slot). */
function hash64(text: string): [number, number] {
  const digest = createHash('sha256').update(text).digest();
  return [digest.readUInt32LE(0), digest.readUInt32LE(4) || 1];
}
