// Per-IP-key state of the in-memory backend in one typed buffer, one small integer "slot" per tracked IP key: no
// object, boxed number or array per key, so a million keys cost a few dozen bytes each and no GC work. A slot's
// fields share one 32-byte record (half a cache line): with keys touched at random, one record costs one cache miss,
// where an array per field would cost one per field.
//
// A slot's window history is logically the series of window.ts (entries [bucket, requests, failures, successes, auth
// failures], same order, same operations). Up to INLINE entries live in the arrays, buckets (keys of the one grid,
// state/level-grid.ts) as offsets from a base per generation and the counts in three 16-bit words: requests,
// failures, and a word holding the auth failures (12 bits) and the requests that were neither failure nor success (4
// bits: 1xx answers, rare), the successes being what is left. So a client with some 401s keeps its 32 bytes like any
// other. A history that does not fit (more entries, requests over 65535, auth failures over 4095 or more than 15 of
// neither in one sub-bucket, a bucket out of range) spills to a plain window.ts series and comes back inline once
// pruned small again.
import type { RecordKind } from '../../../common/record';
import { addToSeries, pruneSeries, STRIDE, sumSeries, type Counts } from '../../window';
import { levelOfKey, mergeCut, mergeDueAt, mergeSeries, seriesDueAt, TOP } from '../level-grid';
import { SPILL_BYTES, SPILL_ENTRY_BYTES } from './key-budget';

/** The accounted weight of a spilled history (key-budget.ts). */
const spillWeight = (series: readonly number[]) => SPILL_BYTES + (series.length / STRIDE) * SPILL_ENTRY_BYTES;

const INLINE = 2;
/**
 * Record layout, by bytes: 0 lastTs (f64); 8 generation (low 30 bits) and
 * inline entries held (top 2 bits, SPILLED_N when spilled) (u32); 12 and 16
 * the two bucket offsets (u32); 20 the two [requests, failures, auth |
 * neither << 12] (u16 each).
 */
const RECORD = 32;
const F64 = RECORD / 8;
const U32 = RECORD / 4;
const U16 = RECORD / 2;
const GEN_AT = 2;
const OFF_AT = 3;
const CNT_AT = 10;
/** spilled, the inline counts are free: f64 3 (bytes 24-31) holds a clock before which no entry is due to merge */
const DUE_AT = 3;
const GEN_MASK = 0x3fffffff;
/** the generation of a free slot (generations count up from 0 and never get this far) */
const FREE_GEN = GEN_MASK;
const SPILLED_N = 3;
const MAX_COUNT = 0xffff;
/** the third count word: auth failures in the low bits, the neither count above them */
const AUTH_MASK = 0xfff;
const NEITHER_SHIFT = 12;
const MAX_NEITHER = 0xf;
const MAX_OFFSET = 0xffffffff;
/**
 * Offsets of a generation start this far below its first key, so older ones
 * fit too: keys count 80 a second (state/level-grid.ts), so this is ~4.9
 * days back (late records reach 2 days at most) and ~1.7 years ahead
 * before a key no longer fits inline (it then spills, still counted).
 */
const BASE_BELOW = 2 ** 25;

export class IpSlots {
  #cap = 0;
  readonly #maxCap: number;
  /**
   * Views of the records. lastTs: the newest record's ts, or in a free slot the next free slot (a free list
   * with no array of its own). Generation: the service and its sub-bucket length (see MemoryState).
   */
  #f64 = new Float64Array(0);
  #u32 = new Uint32Array(0);
  #u16 = new Uint16Array(0);
  /** the slot's LRU key (the IP key is derived from it when shown) */
  #key: (number | string)[] = [];
  readonly #spill = new Map<number, number[]>();
  #freeHead = -1;
  #used = 0;
  #spillBytes = 0;
  /** base bucket of each generation's offsets (undefined until its first bucket) */
  readonly #genBase: number[] = [];

  constructor(maxSlots: number) {
    this.#maxCap = Math.max(1, maxSlots);
    this.#grow(Math.min(1024, this.#maxCap));
  }

  /** the accounted weight of all spilled histories (key-budget.ts) */
  get spillBytes(): number {
    return this.#spillBytes;
  }

  /** The accounted weight of the slot's spilled history, 0 when inline. */
  spillBytesOf(slot: number): number {
    return this.#nOf(slot) === SPILLED_N ? spillWeight(this.#spill.get(slot) as number[]) : 0;
  }

  #spillSet(slot: number, series: number[]): void {
    this.#spillBytes += spillWeight(series);
    this.#spill.set(slot, series);
    this.#setN(slot, SPILLED_N);
    this.#f64[slot * F64 + DUE_AT] = seriesDueAt(series);
  }

  #spillDrop(slot: number): void {
    this.#spillBytes -= spillWeight(this.#spill.get(slot) as number[]);
    this.#spill.delete(slot);
  }

  /** addToSeries on a spilled series, its weight and the clock its merges are due kept in step. */
  #addSpilled(slot: number, s: number[], bucket: number, k: RecordKind): void {
    const before = s.length;
    addToSeries(s, bucket, k);
    this.#spillBytes += ((s.length - before) / STRIDE) * SPILL_ENTRY_BYTES;
    const due = mergeDueAt(bucket);
    if (due < (this.#f64[slot * F64 + DUE_AT] as number)) this.#f64[slot * F64 + DUE_AT] = due;
  }

  /** bytes held outside the JS heap by the arrays (for measurements) */
  get arrayBytes(): number {
    return this.#f64.byteLength;
  }

  alloc(key: number | string, gen: number, lastTs: number): number {
    let slot = this.#freeHead;
    if (slot >= 0) this.#freeHead = this.#f64[slot * F64] as number;
    else {
      if (this.#used >= this.#cap) this.#grow(Math.min(Math.max(this.#cap * 2, 1024), Math.max(this.#maxCap, this.#cap + 1)));
      slot = this.#used++;
    }
    this.#f64[slot * F64] = lastTs;
    this.#u32[slot * U32 + GEN_AT] = gen & GEN_MASK; // no entries
    this.#key[slot] = key;
    return slot;
  }

  free(slot: number): void {
    this.reset(slot);
    this.setGen(slot, FREE_GEN);
    this.#key[slot] = 0;
    this.#f64[slot * F64] = this.#freeHead;
    this.#freeHead = slot;
  }

  #grow(cap: number): void {
    const buf = new ArrayBuffer(cap * RECORD);
    new Uint8Array(buf).set(new Uint8Array(this.#f64.buffer));
    this.#f64 = new Float64Array(buf);
    this.#u32 = new Uint32Array(buf);
    this.#u16 = new Uint16Array(buf);
    this.#cap = cap;
  }

  #nOf(slot: number): number {
    return (this.#u32[slot * U32 + GEN_AT] as number) >>> 30;
  }

  #setN(slot: number, n: number): void {
    const at = slot * U32 + GEN_AT;
    this.#u32[at] = ((this.#u32[at] as number) & GEN_MASK) | (n << 30);
  }

  /** slots handed out so far: every live slot is below this */
  get allocated(): number {
    return this.#used;
  }
  /** whether `slot` holds a key (is not on the free list) */
  live(slot: number): boolean {
    return slot < this.#used && this.gen(slot) !== FREE_GEN;
  }
  key(slot: number): number | string {
    return this.#key[slot] as number | string;
  }
  lastTs(slot: number): number {
    return this.#f64[slot * F64] as number;
  }
  setLastTs(slot: number, ts: number): void {
    this.#f64[slot * F64] = ts;
  }
  gen(slot: number): number {
    return (this.#u32[slot * U32 + GEN_AT] as number) & GEN_MASK;
  }
  setGen(slot: number, gen: number): void {
    const at = slot * U32 + GEN_AT;
    this.#u32[at] = ((this.#u32[at] as number) & ~GEN_MASK) | (gen & GEN_MASK);
  }
  /** Empty history (a key starting over). */
  reset(slot: number): void {
    if (this.#nOf(slot) === SPILLED_N) this.#spillDrop(slot);
    this.#setN(slot, 0);
  }

  /** A generation no slot holds any more may be given again: its base is set afresh by its first bucket. */
  forgetGen(gen: number): void {
    this.#genBase[gen] = undefined as unknown as number;
  }

  #base(gen: number, bucket: number): number {
    let base = this.#genBase[gen];
    if (base === undefined) {
      base = bucket - BASE_BELOW;
      this.#genBase[gen] = base; // generations count up from 0: the array stays dense in practice
    }
    return base;
  }

  /** The offset of `bucket` in the slot's generation, or -1 when it does not fit inline. */
  #offsetOf(slot: number, bucket: number): number {
    const o = bucket - this.#base(this.gen(slot), bucket);
    return Number.isInteger(o) && o >= 0 && o <= MAX_OFFSET ? o : -1;
  }

  #bucketAt(slot: number, i: number): number {
    return (this.#genBase[this.gen(slot)] as number) + (this.#u32[slot * U32 + OFF_AT + i] as number);
  }

  /** The slots in use of generation `gen` (a full scan: for rare rebuilds only). */
  *ofGen(gen: number): Generator<number> {
    for (let slot = 0; slot < this.#used; slot++) if (this.gen(slot) === gen) yield slot;
  }

  /** Entries of the slot's history (as window.ts series entries, oldest first). */
  entries(slot: number): number {
    const n = this.#nOf(slot);
    return n === SPILLED_N ? (this.#spill.get(slot) as number[]).length / STRIDE : n;
  }

  entryBucket(slot: number, i: number): number {
    return this.#nOf(slot) === SPILLED_N ? ((this.#spill.get(slot) as number[])[i * STRIDE] as number) : this.#bucketAt(slot, i);
  }

  /** Count `field` of entry i: 1 requests, 2 failures (window.ts order). */
  entryCount(slot: number, i: number, field: 1 | 2): number {
    if (this.#nOf(slot) === SPILLED_N) return (this.#spill.get(slot) as number[])[i * STRIDE + field] as number;
    return this.#u16[slot * U16 + CNT_AT + i * 3 + field - 1] as number;
  }

  /** The history as a window.ts series (when inline, a copy: into `out` if given, written by index so its storage is reused). */
  series(slot: number, out: number[] = []): number[] {
    const n = this.#nOf(slot);
    if (n === SPILLED_N) return this.#spill.get(slot) as number[];
    for (let i = 0, c = slot * U16 + CNT_AT, k = 0; i < n; i++, c += 3, k += STRIDE) {
      const w = this.#u16[c + 2] as number;
      out[k] = this.#bucketAt(slot, i);
      out[k + 1] = this.#u16[c] as number;
      out[k + 2] = this.#u16[c + 1] as number;
      out[k + 3] = (out[k + 1] as number) - (out[k + 2] as number) - (w >>> NEITHER_SHIFT);
      out[k + 4] = w & AUTH_MASK;
    }
    out.length = n * STRIDE;
    return out;
  }

  /** Replace the history with `series` (restoring a snapshot). */
  setSeries(slot: number, series: number[]): void {
    this.reset(slot);
    if (!this.#tryInline(slot, series)) this.#spillSet(slot, series);
  }

  /** Hold `series` inline if it fits; false leaves the slot as it was. */
  #tryInline(slot: number, series: readonly number[]): boolean {
    const n = series.length / STRIDE;
    if (n > INLINE) return false;
    const offs: number[] = [];
    const words: number[] = [];
    for (let i = 0; i < series.length; i += STRIDE) {
      const o = this.#offsetOf(slot, series[i] as number);
      if (o < 0) return false;
      for (let j = 1; j < STRIDE; j++) {
        const v = series[i + j] as number;
        if (!(Number.isInteger(v) && v >= 0 && v <= MAX_COUNT)) return false;
      }
      const requests = series[i + 1] as number;
      const failures = series[i + 2] as number;
      const auth = series[i + 4] as number;
      const neither = requests - failures - (series[i + 3] as number);
      if (auth > AUTH_MASK || neither < 0 || neither > MAX_NEITHER) return false;
      offs.push(o);
      words.push(requests, failures, auth | (neither << NEITHER_SHIFT));
    }
    const u16 = this.#u16;
    for (let i = 0; i < n; i++) {
      this.#u32[slot * U32 + OFF_AT + i] = offs[i] as number;
      const c = slot * U16 + CNT_AT + i * 3;
      u16[c] = words[i * 3] as number;
      u16[c + 1] = words[i * 3 + 1] as number;
      u16[c + 2] = words[i * 3 + 2] as number;
    }
    if (this.#nOf(slot) === SPILLED_N) this.#spillDrop(slot);
    this.#setN(slot, n);
    return true;
  }

  #toSpill(slot: number): number[] {
    const s = this.series(slot);
    this.#spillSet(slot, s);
    return s;
  }

  /** Move inline entry `from` to `to` (offset and counts). */
  #move(slot: number, from: number, to: number): void {
    const o = slot * U32 + OFF_AT;
    this.#u32[o + to] = this.#u32[o + from] as number;
    const c = slot * U16 + CNT_AT;
    this.#u16.copyWithin(c + to * 3, c + from * 3, c + from * 3 + 3);
  }

  /** window.ts addToSeries on the slot's history. */
  add(slot: number, bucket: number, k: RecordKind): void {
    const n = this.#nOf(slot);
    if (n === SPILLED_N) {
      this.#addSpilled(slot, this.#spill.get(slot) as number[], bucket, k);
      return;
    }
    const o = this.#offsetOf(slot, bucket);
    if (o < 0) {
      this.#addSpilled(slot, this.#toSpill(slot), bucket, k);
      return;
    }
    const u32 = this.#u32;
    const u16 = this.#u16;
    const at = slot * U32 + OFF_AT;
    let i = n - 1;
    while (i >= 0 && (u32[at + i] as number) > o) i--;
    if (i >= 0 && u32[at + i] === o) {
      const c = slot * U16 + CNT_AT + i * 3;
      const w = u16[c + 2] as number;
      if (
        (u16[c] as number) >= MAX_COUNT ||
        (k.auth && (w & AUTH_MASK) >= AUTH_MASK) ||
        (!k.failure && !k.success && w >>> NEITHER_SHIFT >= MAX_NEITHER)
      ) {
        this.#addSpilled(slot, this.#toSpill(slot), bucket, k);
        return;
      }
      u16[c] = (u16[c] as number) + 1;
      if (k.failure) u16[c + 1] = (u16[c + 1] as number) + 1;
      u16[c + 2] = w + (k.auth ? 1 : 0) + (k.failure || k.success ? 0 : 1 << NEITHER_SHIFT);
      return;
    }
    if (n >= INLINE) {
      this.#addSpilled(slot, this.#toSpill(slot), bucket, k);
      return;
    }
    // insert at i + 1, shifting the later entries up
    for (let j = n - 1; j > i; j--) this.#move(slot, j, j + 1);
    const c = slot * U16 + CNT_AT + (i + 1) * 3;
    u32[at + i + 1] = o;
    u16[c] = 1;
    u16[c + 1] = k.failure ? 1 : 0;
    u16[c + 2] = (k.auth ? 1 : 0) + (k.failure || k.success ? 0 : 1 << NEITHER_SHIFT);
    this.#setN(slot, n + 1);
  }

  /**
   * The grid's merges (level-grid.ts) at clock `now`: entries old enough move to a coarser level. A history
   * is rewritten only when one of its entries is due, so most records allocate nothing here.
   */
  merge(slot: number, now: number): void {
    const n = this.#nOf(slot);
    if (n === SPILLED_N) {
      // no entry due yet (pruning only takes entries away): mergeSeries would move nothing
      if (now < (this.#f64[slot * F64 + DUE_AT] as number)) return;
      const s = this.#spill.get(slot) as number[];
      const before = s.length;
      const moved = mergeSeries(s, now);
      this.#spillBytes -= ((before - s.length) / STRIDE) * SPILL_ENTRY_BYTES;
      if (!(moved && s.length <= INLINE * STRIDE && this.#tryInline(slot, s))) this.#f64[slot * F64 + DUE_AT] = seriesDueAt(s);
      return;
    }
    // the oldest entry at or above level 0's cut: every entry is (cuts only go down with the level)
    if (n === 0 || this.#bucketAt(slot, 0) >= mergeCut(0, now)) return;
    for (let i = 0; i < n; i++) {
      const key = this.#bucketAt(slot, i);
      const j = levelOfKey(key);
      if (j < TOP && key < mergeCut(j, now)) {
        const s = this.series(slot);
        mergeSeries(s, now);
        this.setSeries(slot, s);
        return;
      }
    }
  }

  /** window.ts pruneSeries on the slot's history. */
  prune(slot: number, minBucket: number): void {
    const n = this.#nOf(slot);
    if (n === SPILLED_N) {
      const s = this.#spill.get(slot) as number[];
      const before = s.length;
      pruneSeries(s, minBucket);
      this.#spillBytes -= ((before - s.length) / STRIDE) * SPILL_ENTRY_BYTES;
      if (s.length <= INLINE * STRIDE) this.#tryInline(slot, s);
      return;
    }
    let k = 0;
    while (k < n && this.#bucketAt(slot, k) < minBucket) k++;
    if (k === 0) return;
    for (let j = k; j < n; j++) this.#move(slot, j, j - k);
    this.#setN(slot, n - k);
  }

  /** window.ts sumSeries on the slot's history. */
  sum(slot: number, fromBucket: number, toBucket: number, out: Counts): Counts {
    const n = this.#nOf(slot);
    if (n === SPILLED_N) return sumSeries(this.#spill.get(slot) as number[], fromBucket, toBucket, out);
    out.requests = 0;
    out.failures = 0;
    out.successes = 0;
    out.auth_failures = 0;
    const u16 = this.#u16;
    for (let i = n - 1; i >= 0; i--) {
      const b = this.#bucketAt(slot, i);
      if (b <= fromBucket) break;
      if (b > toBucket) continue;
      const c = slot * U16 + CNT_AT + i * 3;
      const requests = u16[c] as number;
      const failures = u16[c + 1] as number;
      const w = u16[c + 2] as number;
      out.requests += requests;
      out.failures += failures;
      out.successes += requests - failures - (w >>> NEITHER_SHIFT);
      out.auth_failures += w & AUTH_MASK;
    }
    return out;
  }
}
