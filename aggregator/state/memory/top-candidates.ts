// Heavy hitters of one service by one count (requests or failures), kept
// incrementally so that a scrape reads a few hundred candidates, not all
// keys, and still lists every IP key that beats the N-th listed one.
//
// Invariant: every IP key outside the set has, in the window starting at
// sub-bucket w, at most `bound.at(w)` of the count. The bound is the upper
// envelope of the outsiders' histories as they were when they left (refused
// or pruned): an outsider's count only grows by a record, and every record
// goes through admit(). So the bound decays as the window slides, exactly as
// fast as the outsiders' own counts can: a short-lived heavy decoy raises it
// only while the decoy's records are in the window (a threshold that only
// rises let decoys, then many slow /64s, keep a real flooder out).
// A list is certified when its N-th count is at least the bound; otherwise
// (listed candidates decayed faster than some outsider) the set is rebuilt
// from every key of the service, at most once per sub-bucket in practice.
import type { TopItem } from '../../../common/record';

/** IP keys are slots of IpSlots. */
type Slot = number;

/** The window histories the candidates are ranked by (IpSlots, filtered to one service's generation). */
export interface Histories {
  /** entries of the slot's history, oldest first (0 when it is not the service's) */
  entries(slot: Slot): number;
  entryBucket(slot: Slot, i: number): number;
  /** the count (1 requests, 2 failures) of entry i */
  entryCount(slot: Slot, i: number, field: 1 | 2): number;
  /** every slot of the service (rebuilds only) */
  all(): Iterable<Slot>;
}

/**
 * An upper bound, per window start w, of any outsider's count in buckets
 * >= w: non-increasing in w. Held for the starts of the windows from the
 * clock's own onwards (a window's start only moves forward).
 */
export class OutsiderBound {
  /** bound for the window starting at #start + i */
  #u: number[] = [];
  #start = 0;

  at(w: number): number {
    this.#drop(w);
    return this.#u[0] ?? 0;
  }

  #drop(w: number): void {
    if (w <= this.#start) return;
    const k = w - this.#start;
    if (k >= this.#u.length) this.#u.length = 0;
    else this.#u.splice(0, k);
    this.#start = w;
  }

  clear(): void {
    this.#u.length = 0;
    // window starts of another level are other numbers: the next one starts afresh
    this.#start = Number.NEGATIVE_INFINITY;
  }

  /** Raise the bound to an outsider's suffix counts: visits its entries in buckets >= w, newest first. */
  merge(h: Histories, e: Slot, field: 1 | 2, w: number): void {
    this.#drop(w);
    const u = this.#u;
    let s = 0;
    for (let i = h.entries(e) - 1; i >= 0; i--) {
      const b = h.entryBucket(e, i);
      if (b < w) break;
      s += h.entryCount(e, i, field);
      // window starts in (previous entry's bucket, b] see s of this outsider
      const lo = i > 0 ? Math.max(w, h.entryBucket(e, i - 1) + 1) : w;
      while (u.length <= b - w) u.push(0);
      // u is non-increasing: once a start holds s or more, so do all earlier ones
      for (let j = b - w; j >= lo - w && (u[j] as number) < s; j--) u[j] = s;
    }
  }
}

export class TopCandidates {
  readonly set = new Set<Slot>();
  readonly #bound: OutsiderBound;
  /** full rebuilds so far (tests, measurements) */
  rebuilds = 0;

  constructor(
    readonly cap: number,
    readonly field: 1 | 2,
    readonly hist: Histories,
    bound = new OutsiderBound(),
  ) {
    this.#bound = bound;
  }

  #stale = false;

  /** Forget everything (a rebuild follows). */
  clear(): void {
    this.set.clear();
    this.#bound.clear();
  }

  /** The window now reads another level of the grid: the bound's starts mean nothing, the next list ranks every key afresh. */
  relevel(): void {
    this.clear();
    this.#stale = true;
  }

  /** Carry the set and the bound over to a new cap (settings changed top_n): what outsiders can hold is unchanged. */
  resized(cap: number): TopCandidates {
    const t = new TopCandidates(cap, this.field, this.hist, this.#bound);
    for (const e of this.set) t.set.add(e);
    t.rebuilds = this.rebuilds;
    return t;
  }

  /** After a record of `e`: `count` is its window count now, the window starting at bucket `w`. */
  admit(e: Slot, count: number, w: number, countOf: (e: Slot) => number): void {
    if (this.set.has(e) || count <= 0) return;
    if (this.set.size < this.cap || count > this.#bound.at(w)) {
      this.set.add(e);
      if (this.set.size > this.cap) this.#prune(countOf, w);
    } else this.#bound.merge(this.hist, e, this.field, w);
  }

  /** A full set keeps its better half; the rest become outsiders. */
  #prune(countOf: (e: Slot) => number, w: number): void {
    const ranked = [...this.set].map((e) => [e, countOf(e)] as const).sort((a, b) => b[1] - a[1]);
    const keep = this.cap >> 1;
    for (let i = keep; i < ranked.length; i++) {
      const e = (ranked[i] as readonly [Slot, number])[0];
      this.set.delete(e);
      this.#bound.merge(this.hist, e, this.field, w);
    }
  }

  /** Every key of the service ranked afresh: the best `cap` in the set, the bound from the others. */
  #rebuild(countOf: (e: Slot) => number, w: number): void {
    this.rebuilds++;
    const all: [Slot, number][] = [];
    for (const e of this.hist.all()) {
      const n = countOf(e);
      if (n > 0) all.push([e, n]);
    }
    all.sort((a, b) => b[1] - a[1]);
    this.clear();
    all.forEach(([e], i) => {
      if (i < this.cap) this.set.add(e);
      else this.#bound.merge(this.hist, e, this.field, w);
    });
  }

  /**
   * The best `n` (count > 0) in the window starting at bucket `w`, by count
   * then IP key: every IP key with a count above the N-th listed one is
   * listed (ties at the cut may go either way).
   */
  ranked(countOf: (e: Slot) => number, ipOf: (e: Slot) => string, n: number, w: number): TopItem[] {
    n = Math.trunc(n); // as slice(0, n) would
    if (!(n > 0)) return [];
    let items = this.#best(countOf, ipOf, n);
    const bound = this.#bound.at(w);
    const certified = !this.#stale && (items.length === n ? (items[n - 1] as TopItem).count >= bound : bound === 0);
    if (!certified) {
      this.#stale = false;
      this.#rebuild(countOf, w);
      items = this.#best(countOf, ipOf, n);
    }
    return items;
  }

  /**
   * A bounded insertion keeps scrapes from allocating and sorting every
   * candidate of every service: only the n listed ones.
   */
  #best(countOf: (e: Slot) => number, ipOf: (e: Slot) => string, n: number): TopItem[] {
    const items: TopItem[] = [];
    for (const e of this.set) {
      const count = countOf(e);
      if (count <= 0) continue;
      let i = items.length;
      let ip: string | undefined; // built only when needed: a tie, or listed
      // walk up past the listed items this one beats (IP keys are unique: a total order)
      while (i > 0) {
        const prev = items[i - 1] as TopItem;
        if (prev.count > count || (prev.count === count && prev.ip < (ip ??= ipOf(e)))) break;
        i--;
      }
      if (i >= n) continue;
      items.splice(i, 0, { ip: ip ?? ipOf(e), count });
      if (items.length > n) items.pop();
    }
    return items;
  }
}
