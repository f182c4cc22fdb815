// The in-memory state's recency order of all its keys (IP and credential
// alike), held by lru-cache: least recently seen first, a key moved to the
// newest end when seen, the oldest evicted to make room.
//
// The count bound is lru-cache's maxSize with every entry of size 1, not its
// `max`: with `max`, lru-cache allocates its tables for `max` entries up front
// (~40 MB at SIEM_MAX_KEYS = 1M, before a single record); without it they grow
// with the keys held.
//
// lru-cache is keyed here by node numbers this class hands out, not by the
// keys themselves: the state finds a key through its own indexes (IPv4 keys
// by number, credentials per service) and holds the key's node, so a record
// costs no key string and one lookup of a small integer in lru-cache's Map.
import { LRUCache } from 'lru-cache';

export class Recency<V extends {}> {
  readonly #lru: LRUCache<number, V>;
  /** node numbers given back (removed or evicted), reused before new ones */
  readonly #free: number[] = [];
  #next = 0;

  readonly #max: number;

  /**
   * `max`: keys held at most; `onEvict`: called for a node evicted to make
   * room (not for remove()), after it left the order. `capOnAdd` false: add()
   * never evicts, the owner calls trim() when it chooses (after a batch).
   */
  constructor(max: number, onEvict: (v: V) => void, capOnAdd = true) {
    this.#max = Math.max(1, max);
    this.#lru = new LRUCache<number, V>({
      maxSize: capOnAdd ? this.#max : Number.MAX_SAFE_INTEGER,
      sizeCalculation: () => 1,
      dispose: (v, n, reason) => {
        if (reason !== 'evict') return;
        this.#free.push(n);
        onEvict(v);
      },
    });
  }

  get size(): number {
    return this.#lru.size;
  }

  /** Add `v` as the newest (evicting the oldest first when `max` are held); returns its node. */
  add(v: V): number {
    const n = this.#free.pop() ?? this.#next++;
    this.#lru.set(n, v);
    return n;
  }

  /** Node `n` becomes the newest; returns its value (one lookup for both). */
  touch(n: number): V {
    return this.#lru.get(n) as V;
  }

  value(n: number): V {
    return this.#lru.peek(n) as V;
  }

  /** Take node `n` out (its value is not told). */
  remove(n: number): void {
    if (this.#lru.delete(n)) this.#free.push(n);
  }

  /** Evict the oldest nodes past `max` (with capOnAdd, there are none). */
  trim(): void {
    while (this.#lru.size > this.#max) this.#lru.pop();
  }

  /** Evict the oldest node, telling onEvict. */
  evictOldest(): void {
    this.#lru.pop();
  }

  /**
   * Take out the values meeting `pick`, walking from the oldest: at most
   * `max` of them, and stopping after `passLimit` values passed over.
   * Returns them oldest first.
   */
  removeOldest(pick: (v: V) => boolean, max: number, passLimit: number): V[] {
    const taken: [number, V][] = [];
    let passed = 0;
    for (const e of this.#lru.rentries()) {
      if (taken.length >= max) break;
      const [n, v] = e as [number, V];
      if (pick(v)) taken.push([n, v]);
      else if (++passed > passLimit) break;
    }
    for (const [n] of taken) this.remove(n);
    return taken.map(([, v]) => v);
  }

  /** Nodes oldest first; the order must not change during the walk. */
  *oldestFirst(): Generator<number> {
    yield* this.#lru.rkeys();
  }
}
