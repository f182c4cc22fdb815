// Replay's scanner (cli/kong-log-scan.ts), memo of top-level values: most
// bytes of a Kong log line are subtrees that are the same from line to line
// (`route`, `service`: the config entities, identical for every request of a
// route). Per top-level key, the last few object or array values scanned
// whole are kept as bytes (a copy: chunks are reused) with what their scan
// left in kong-log-kept's state; when the key comes again and its value's
// bytes equal one of them, one native comparison stands for the scan.
//
// Sound by construction:
// - equal bytes are an equal value, for JSON.parse and for the scan, whose
//   state for a kept node's subtree is blank when its value starts (cleared
//   per line, reset when the key repeats) and then depends on those bytes only;
// - an object or array ends at its own closing bracket, so bytes equal to a
//   whole value are that whole value, whatever follows (which the scanner
//   then checks as before: a line whose value is followed by junk is refused);
// - subtrees holding the request headers are never memoized (their keys land
//   in one list in line order), nor kept leaves holding an object.

import { kind, vals, type Node } from './kong-log-kept';

/** Values remembered per key: the bench alternates two services, real logs have one route entity per route. */
export const MEMO_WAYS = 8;
/** Shorter values are scanned: a lookup costs about as much. */
export const MEMO_MIN_BYTES = 64;
/** Longer values are scanned: this bounds the memo at MEMO_WAYS × MEMO_MAX_BYTES per key. */
export const MEMO_MAX_BYTES = 4096;
/** Top-level keys outside KONG_LOG_FIELDS memoized: the first ones met with a long enough value. */
export const MEMO_OTHER_KEYS = 16;

class Entry {
  readonly bytes = new Uint8Array(MEMO_MAX_BYTES);
  readonly words = new DataView(this.bytes.buffer);
  len = 0;
  /** bytes at len/4 and len/2: most other values differ there, tested before the comparison */
  quarter = 0;
  half = 0;
  last = 0;
  constructor(
    readonly vals: unknown[],
    readonly kinds: Uint8Array,
  ) {}
}

/**
 * Whether bytes [i, i + e.len) of `b` (`w`: a DataView over the same bytes)
 * are e's: 8 bytes per step by DataView loads, which V8 compiles to plain
 * unaligned loads. In JS, not Buffer#compare: its argument checks and native
 * call cost more than the loop for a few hundred bytes (~10% of a line's CPU
 * with 3 comparisons per line, against ~4% for this).
 */
function same(e: Entry, b: Uint8Array, w: DataView, i: number): boolean {
  const len = e.len;
  const ew = e.words;
  let k = 0;
  for (; k + 8 <= len; k += 8)
    if (w.getInt32(i + k, true) !== ew.getInt32(k, true) || w.getInt32(i + k + 4, true) !== ew.getInt32(k + 4, true)) return false;
  const eb = e.bytes;
  for (; k < len; k++) if (b[i + k] !== eb[k]) return false;
  return true;
}

/** After this many misses in a row, a key's values are looked up and remembered one miss in MISS_SAMPLE (values that never repeat: `tries`). */
export const MISS_STREAK = 32;
export const MISS_SAMPLE = 16;

/** The memo of one top-level key: its values, and the kept state a value of it sets. */
export class KeyMemo {
  private readonly entries: Entry[] = [];
  private next = 0;
  private hit = 0;
  private misses = 0;
  constructor(
    /** the leaf slots of the key's subtree */
    private readonly slots: readonly number[],
    /** the nodes below the key's node */
    private readonly nodes: readonly number[],
  ) {}

  /**
   * `i` at a value's first byte, [i, n) the rest of the line (`b`, `w`: its
   * bytes and a DataView over them): the end of the value if it is one
   * remembered (its state restored), else -1.
   */
  find(b: Uint8Array, w: DataView, i: number, n: number): number {
    // values that do not repeat: looked up only on the lines whose miss add() samples
    if (this.misses >= MISS_STREAK && (this.misses + 1) % MISS_SAMPLE !== 0) {
      this.misses++;
      return -1;
    }
    const es = this.entries;
    const ways = es.length;
    let at = this.hit;
    for (let k = 0; k < ways; k++, at = at + 1 === ways ? 0 : at + 1) {
      const e = es[at] as Entry;
      const end = i + e.len;
      if (end > n || b[end - 1] !== e.last || b[i + (e.len >> 1)] !== e.half || b[i + (e.len >> 2)] !== e.quarter) continue;
      if (!same(e, b, w, i)) continue;
      this.hit = at;
      this.misses = 0;
      const slots = this.slots;
      for (let s = 0; s < slots.length; s++) vals[slots[s] as number] = e.vals[s];
      const nodes = this.nodes;
      for (let d = 0; d < nodes.length; d++) kind[nodes[d] as number] = e.kinds[d] as number;
      return end;
    }
    this.misses++;
    return -1;
  }

  /** The value [from, to) of `b` (`w`: a DataView over it) missed and was then scanned whole: remember it and the state it set (the oldest entry goes). */
  add(b: Uint8Array, w: DataView, from: number, to: number): void {
    const len = to - from;
    if (len < MEMO_MIN_BYTES || len > MEMO_MAX_BYTES) return;
    if (this.misses > MISS_STREAK && this.misses % MISS_SAMPLE !== 0) return;
    let e = this.entries[this.next];
    if (e === undefined) {
      e = new Entry(new Array<unknown>(this.slots.length).fill(undefined), new Uint8Array(this.nodes.length));
      this.entries.push(e);
    }
    this.next = this.next + 1 === MEMO_WAYS ? 0 : this.next + 1;
    // a loop, not Buffer#copy: that makes a Uint8Array view per call
    const ew = e.words;
    let k = 0;
    for (; k + 4 <= len; k += 4) ew.setInt32(k, w.getInt32(from + k, true), true);
    const eb = e.bytes;
    for (; k < len; k++) eb[k] = b[from + k] as number;
    e.len = len;
    e.last = b[to - 1] as number;
    e.half = b[from + (len >> 1)] as number;
    e.quarter = b[from + (len >> 2)] as number;
    for (let s = 0; s < this.slots.length; s++) e.vals[s] = vals[this.slots[s] as number];
    for (let d = 0; d < this.nodes.length; d++) e.kinds[d] = kind[this.nodes[d] as number] as number;
  }
}

/** One scanner's memo: a KeyMemo per top-level kept node (none for those holding the headers), and per other key met. */
export class TopMemo {
  /** by node index: its memo, or undefined (the top node, headers below it) */
  readonly byNode: (KeyMemo | undefined)[];
  private readonly names: Uint8Array[] = [];
  private readonly other: KeyMemo[] = [];

  constructor(nodes: readonly Node[]) {
    this.byNode = nodes.map(() => undefined);
    for (const child of (nodes[0] as Node).children) {
      const slots: number[] = [];
      const below: number[] = [];
      let headers = false;
      const walk = (n: number): void => {
        const nd = nodes[n] as Node;
        headers ||= nd.headers;
        slots.push(...nd.slots);
        for (const c of nd.children) {
          below.push(c);
          walk(c);
        }
      };
      walk(child);
      if (!headers) this.byNode[child] = new KeyMemo(slots, below);
    }
  }

  /** The memo of a top-level key outside the table, unescaped ASCII bytes [from, to): found, or added while there is room. */
  byName(b: Uint8Array, from: number, to: number): KeyMemo | undefined {
    const len = to - from;
    for (let k = 0; k < this.names.length; k++) {
      const name = this.names[k] as Uint8Array;
      if (name.length !== len) continue;
      let j = 0;
      while (j < len && name[j] === b[from + j]) j++;
      if (j === len) return this.other[k];
    }
    if (this.names.length >= MEMO_OTHER_KEYS || len > 64) return undefined;
    this.names.push(b.slice(from, to));
    const m = new KeyMemo([], []);
    this.other.push(m);
    return m;
  }
}
