// Heavy hitters of one service by one count, kept incrementally: an IP is
// admitted when the set has room or its count beats the best count dropped at
// the last prune; a full set is pruned to its better half. Scrapes read this
// set, not all keys.
import type { TopItem } from '../../../common/record';

/** IP keys are slots of IpSlots. */
type Slot = number;

export class TopCandidates {
  readonly set = new Set<Slot>();
  #threshold = 0;
  constructor(readonly cap: number) {}

  admit(e: Slot, count: number, countOf: (e: Slot) => number): void {
    if (this.set.has(e) || count <= 0) return;
    if (this.set.size < this.cap || count > this.#threshold) {
      this.set.add(e);
      if (this.set.size > this.cap) this.#prune(countOf);
    }
  }

  #prune(countOf: (e: Slot) => number): void {
    const ranked = [...this.set].map((e) => [e, countOf(e)] as const).sort((a, b) => b[1] - a[1]);
    const keep = this.cap >> 1;
    this.#threshold = ranked[keep]?.[1] ?? 0;
    for (let i = keep; i < ranked.length; i++) this.set.delete((ranked[i] as readonly [Slot, number])[0]);
  }

  /**
   * The best `n` (count > 0) at the current clock, by count then IP key.
   * A bounded insertion keeps scrapes from allocating and sorting every
   * candidate of every service: only the n listed ones.
   */
  ranked(countOf: (e: Slot) => number, ipOf: (e: Slot) => string, n: number): TopItem[] {
    const items: TopItem[] = [];
    n = Math.trunc(n); // as slice(0, n) would
    if (!(n > 0)) return items;
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
