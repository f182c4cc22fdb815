// Per-IP-key state of the in-memory backend as a struct of typed arrays, one
// small integer "slot" per tracked IP key: no object, boxed number or array
// per key, so a million keys cost a few dozen bytes each and no GC work.
//
// A slot's window history is logically the series of window.ts (entries
// [bucket, requests, failures, successes], same order, same operations). Up
// to INLINE entries live in the arrays, buckets as offsets from a base per
// generation and counts as 16 bits; a history that does not fit (more
// entries, a count over 65535, a bucket out of range) spills to a plain
// window.ts series and comes back inline once pruned small again.
import { addToSeries, pruneSeries, STRIDE, sumSeries, type Counts } from '../window';

const INLINE = 2;
const MAX_COUNT = 0xffff;
const MAX_OFFSET = 0xffffffff;
/** offsets of a generation start this far below its first bucket, so older ones fit too */
const BASE_BELOW = 2 ** 31;
const SPILLED = -1;
export const NO_TS = -1;

export class IpSlots {
  #cap = 0;
  readonly #maxCap: number;
  /** newest record ts; a free slot holds the next free slot here (a free list with no array of its own) */
  #lastTs = new Float64Array(0);
  /** generation: the service and its sub-bucket length (see MemoryState) */
  #gen = new Uint32Array(0);
  /** inline entries held, or SPILLED */
  #n = new Int8Array(0);
  /** INLINE bucket offsets per slot */
  #off = new Uint32Array(0);
  /** INLINE x [requests, failures, successes] per slot */
  #cnt = new Uint16Array(0);
  /** the slot's LRU key (the IP key is derived from it when shown) */
  #key: (number | string)[] = [];
  readonly #spill = new Map<number, number[]>();
  /** run starts, held only while set (few keys meet a rule) */
  readonly #errorSince = new Map<number, number>();
  readonly #spikeSince = new Map<number, number>();
  #freeHead = -1;
  #used = 0;
  /** base bucket of each generation's offsets (undefined until its first bucket) */
  readonly #genBase: number[] = [];

  constructor(maxSlots: number) {
    this.#maxCap = Math.max(1, maxSlots);
    this.#grow(Math.min(1024, this.#maxCap));
  }

  /** bytes held outside the JS heap by the arrays (for measurements) */
  get arrayBytes(): number {
    return this.#lastTs.byteLength + this.#gen.byteLength + this.#n.byteLength + this.#off.byteLength + this.#cnt.byteLength;
  }

  alloc(key: number | string, gen: number, lastTs: number): number {
    let slot = this.#freeHead;
    if (slot >= 0) this.#freeHead = this.#lastTs[slot] as number;
    else {
      if (this.#used >= this.#cap) this.#grow(Math.min(Math.max(this.#cap * 2, 1024), Math.max(this.#maxCap, this.#cap + 1)));
      slot = this.#used++;
    }
    this.#lastTs[slot] = lastTs;
    this.#gen[slot] = gen;
    this.#n[slot] = 0;
    this.#key[slot] = key;
    return slot;
  }

  free(slot: number): void {
    this.reset(slot);
    this.#key[slot] = 0;
    this.#lastTs[slot] = this.#freeHead;
    this.#freeHead = slot;
  }

  #grow(cap: number): void {
    const grown = <T extends Float64Array | Uint32Array | Int8Array | Uint16Array>(a: T, make: (n: number) => T, per: number): T => {
      const b = make(cap * per);
      b.set(a);
      return b;
    };
    this.#lastTs = grown(this.#lastTs, (n) => new Float64Array(n), 1);
    this.#gen = grown(this.#gen, (n) => new Uint32Array(n), 1);
    this.#n = grown(this.#n, (n) => new Int8Array(n), 1);
    this.#off = grown(this.#off, (n) => new Uint32Array(n), INLINE);
    this.#cnt = grown(this.#cnt, (n) => new Uint16Array(n), 3 * INLINE);
    this.#cap = cap;
  }

  key(slot: number): number | string {
    return this.#key[slot] as number | string;
  }
  lastTs(slot: number): number {
    return this.#lastTs[slot] as number;
  }
  setLastTs(slot: number, ts: number): void {
    this.#lastTs[slot] = ts;
  }
  gen(slot: number): number {
    return this.#gen[slot] as number;
  }
  setGen(slot: number, gen: number): void {
    this.#gen[slot] = gen;
  }
  errorSince(slot: number): number {
    return this.#errorSince.get(slot) ?? NO_TS;
  }
  setErrorSince(slot: number, ts: number): void {
    if (ts === NO_TS) this.#errorSince.delete(slot);
    else this.#errorSince.set(slot, ts);
  }
  spikeSince(slot: number): number {
    return this.#spikeSince.get(slot) ?? NO_TS;
  }
  setSpikeSince(slot: number, ts: number): void {
    if (ts === NO_TS) this.#spikeSince.delete(slot);
    else this.#spikeSince.set(slot, ts);
  }

  /** Empty history, no run starts (a key starting over). */
  reset(slot: number): void {
    if (this.#n[slot] === SPILLED) this.#spill.delete(slot);
    this.#n[slot] = 0;
    this.#errorSince.delete(slot);
    this.#spikeSince.delete(slot);
  }

  #base(gen: number, bucket: number): number {
    let base = this.#genBase[gen];
    if (base === undefined) {
      base = bucket - BASE_BELOW;
      while (this.#genBase.length < gen) this.#genBase.push(Number.NaN);
      this.#genBase[gen] = base;
    } else if (Number.isNaN(base)) {
      base = bucket - BASE_BELOW;
      this.#genBase[gen] = base;
    }
    return base;
  }

  /** The offset of `bucket` in the slot's generation, or -1 when it does not fit inline. */
  #offsetOf(slot: number, bucket: number): number {
    const o = bucket - this.#base(this.#gen[slot] as number, bucket);
    return Number.isInteger(o) && o >= 0 && o <= MAX_OFFSET ? o : -1;
  }

  #bucketAt(slot: number, i: number): number {
    return (this.#genBase[this.#gen[slot] as number] as number) + (this.#off[slot * INLINE + i] as number);
  }

  /** The history as a window.ts series (a copy when inline). */
  series(slot: number): number[] {
    const n = this.#n[slot] as number;
    if (n === SPILLED) return this.#spill.get(slot) as number[];
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const c = (slot * INLINE + i) * 3;
      out.push(this.#bucketAt(slot, i), this.#cnt[c] as number, this.#cnt[c + 1] as number, this.#cnt[c + 2] as number);
    }
    return out;
  }

  /** Replace the history with `series` (restoring a snapshot). */
  setSeries(slot: number, series: number[]): void {
    this.reset(slot);
    if (!this.#tryInline(slot, series)) {
      this.#n[slot] = SPILLED;
      this.#spill.set(slot, series);
    }
  }

  /** Hold `series` inline if it fits; false leaves the slot as it was. */
  #tryInline(slot: number, series: readonly number[]): boolean {
    const n = series.length / STRIDE;
    if (n > INLINE) return false;
    const offs: number[] = [];
    for (let i = 0; i < series.length; i += STRIDE) {
      const o = this.#offsetOf(slot, series[i] as number);
      if (o < 0) return false;
      for (let j = 1; j < STRIDE; j++) {
        const v = series[i + j] as number;
        if (!(Number.isInteger(v) && v >= 0 && v <= MAX_COUNT)) return false;
      }
      offs.push(o);
    }
    for (let i = 0; i < n; i++) {
      this.#off[slot * INLINE + i] = offs[i] as number;
      const c = (slot * INLINE + i) * 3;
      this.#cnt[c] = series[i * STRIDE + 1] as number;
      this.#cnt[c + 1] = series[i * STRIDE + 2] as number;
      this.#cnt[c + 2] = series[i * STRIDE + 3] as number;
    }
    if (this.#n[slot] === SPILLED) this.#spill.delete(slot);
    this.#n[slot] = n;
    return true;
  }

  #toSpill(slot: number): number[] {
    const s = this.series(slot);
    this.#n[slot] = SPILLED;
    this.#spill.set(slot, s);
    return s;
  }

  /** window.ts addToSeries on the slot's history. */
  add(slot: number, bucket: number, failure: boolean, success: boolean): void {
    const n = this.#n[slot] as number;
    if (n === SPILLED) {
      addToSeries(this.#spill.get(slot) as number[], bucket, failure, success);
      return;
    }
    const o = this.#offsetOf(slot, bucket);
    if (o < 0) {
      addToSeries(this.#toSpill(slot), bucket, failure, success);
      return;
    }
    const at = slot * INLINE;
    let i = n - 1;
    while (i >= 0 && (this.#off[at + i] as number) > o) i--;
    if (i >= 0 && this.#off[at + i] === o) {
      const c = (at + i) * 3;
      if ((this.#cnt[c] as number) >= MAX_COUNT) {
        addToSeries(this.#toSpill(slot), bucket, failure, success);
        return;
      }
      const cnt = this.#cnt;
      cnt[c] = (cnt[c] as number) + 1;
      if (failure) cnt[c + 1] = (cnt[c + 1] as number) + 1;
      if (success) cnt[c + 2] = (cnt[c + 2] as number) + 1;
      return;
    }
    if (n >= INLINE) {
      addToSeries(this.#toSpill(slot), bucket, failure, success);
      return;
    }
    // insert at i + 1, shifting the later entries up
    for (let j = n - 1; j > i; j--) {
      this.#off[at + j + 1] = this.#off[at + j] as number;
      this.#cnt.copyWithin((at + j + 1) * 3, (at + j) * 3, (at + j) * 3 + 3);
    }
    const c = (at + i + 1) * 3;
    this.#off[at + i + 1] = o;
    this.#cnt[c] = 1;
    this.#cnt[c + 1] = failure ? 1 : 0;
    this.#cnt[c + 2] = success ? 1 : 0;
    this.#n[slot] = n + 1;
  }

  /** window.ts pruneSeries on the slot's history. */
  prune(slot: number, minBucket: number): void {
    const n = this.#n[slot] as number;
    if (n === SPILLED) {
      const s = this.#spill.get(slot) as number[];
      pruneSeries(s, minBucket);
      if (s.length <= INLINE * STRIDE) this.#tryInline(slot, s);
      return;
    }
    let k = 0;
    while (k < n && this.#bucketAt(slot, k) < minBucket) k++;
    if (k === 0) return;
    const at = slot * INLINE;
    for (let j = k; j < n; j++) {
      this.#off[at + j - k] = this.#off[at + j] as number;
      this.#cnt.copyWithin((at + j - k) * 3, (at + j) * 3, (at + j) * 3 + 3);
    }
    this.#n[slot] = n - k;
  }

  /** window.ts sumSeries on the slot's history. */
  sum(slot: number, fromBucket: number, toBucket: number, out: Counts): Counts {
    const n = this.#n[slot] as number;
    if (n === SPILLED) return sumSeries(this.#spill.get(slot) as number[], fromBucket, toBucket, out);
    out.requests = 0;
    out.failures = 0;
    out.successes = 0;
    const at = slot * INLINE;
    for (let i = n - 1; i >= 0; i--) {
      const b = this.#bucketAt(slot, i);
      if (b <= fromBucket) break;
      if (b > toBucket) continue;
      const c = (at + i) * 3;
      out.requests += this.#cnt[c] as number;
      out.failures += this.#cnt[c + 1] as number;
      out.successes += this.#cnt[c + 2] as number;
    }
    return out;
  }
}
