// The in-memory state's recency order of all its keys (IP and credential
// alike): an intrusive doubly linked list over node numbers, its links in two
// typed array (a node's two links side by side: one cache line per node),
// least recently seen at the head. The state keeps its own
// indexes (IP keys by number or string, credentials per service) and holds a
// node number per key, so a record costs one lookup and a relink.
//
// Own code rather than lru-cache (used before): lru-cache is an index and an
// order in one, so a credential needed a key string built per record
// (`<service id>#<credential>`) to look it up, and each get paid for features
// the state does not use (TTLs, size tracking, status, fetch); together ~15%
// of ingest's CPU in the profile of bench case 1. The behaviour kept is
// lru-cache's with `max`: a key is moved to the newest end when read or
// added, and adding one when `max` are held first evicts the oldest.

export class Recency<V> {
  readonly #max: number;
  readonly #onEvict: (v: V) => void;
  /** node n's previous (older) node at 2n, next (newer) at 2n + 1; -1: none */
  #links = new Int32Array(0);
  #vals: (V | undefined)[] = [];
  /** oldest and newest node, -1 when empty */
  #head = -1;
  #tail = -1;
  /** free nodes, linked through #next */
  #free = -1;
  #used = 0;
  #size = 0;

  /** `onEvict`: called for a node evicted to make room (not for remove()), after it left the list. */
  constructor(max: number, onEvict: (v: V) => void) {
    this.#max = Math.max(1, max);
    this.#onEvict = onEvict;
    this.#grow(Math.min(1024, this.#max));
  }

  get size(): number {
    return this.#size;
  }

  #grow(cap: number): void {
    const links = new Int32Array(2 * cap);
    links.set(this.#links);
    this.#links = links;
  }

  /** Add `v` as the newest (evicting the oldest first when `max` are held); returns its node. */
  add(v: V): number {
    if (this.#size >= this.#max) this.evictOldest();
    const links = this.#links;
    let n = this.#free;
    if (n >= 0) this.#free = links[2 * n + 1] as number;
    else {
      if (2 * this.#used >= links.length) this.#grow(Math.min(this.#max, links.length));
      n = this.#used++;
    }
    this.#vals[n] = v;
    const l = this.#links;
    l[2 * n] = this.#tail;
    l[2 * n + 1] = -1;
    if (this.#tail >= 0) l[2 * this.#tail + 1] = n;
    else this.#head = n;
    this.#tail = n;
    this.#size++;
    return n;
  }

  /** Node `n` becomes the newest. */
  touch(n: number): void {
    if (n === this.#tail) return;
    const l = this.#links;
    const p = l[2 * n] as number;
    const x = l[2 * n + 1] as number;
    // not the tail: x >= 0
    l[2 * x] = p;
    if (p >= 0) l[2 * p + 1] = x;
    else this.#head = x;
    l[2 * n] = this.#tail;
    l[2 * n + 1] = -1;
    l[2 * this.#tail + 1] = n;
    this.#tail = n;
  }

  value(n: number): V {
    return this.#vals[n] as V;
  }

  /** Take node `n` out (its value is not told). */
  remove(n: number): void {
    const l = this.#links;
    const p = l[2 * n] as number;
    const x = l[2 * n + 1] as number;
    if (p >= 0) l[2 * p + 1] = x;
    else this.#head = x;
    if (x >= 0) l[2 * x] = p;
    else this.#tail = p;
    this.#vals[n] = undefined;
    l[2 * n + 1] = this.#free;
    this.#free = n;
    this.#size--;
  }

  /** Evict the oldest node, telling onEvict. */
  evictOldest(): void {
    const n = this.#head;
    if (n < 0) return;
    const v = this.#vals[n] as V;
    this.remove(n);
    this.#onEvict(v);
  }

  /**
   * Take out the values meeting `pick`, walking from the oldest: at most
   * `max` of them, and stopping after `passLimit` values passed over.
   * Returns them oldest first.
   */
  removeOldest(pick: (v: V) => boolean, max: number, passLimit: number): V[] {
    const taken: number[] = [];
    let passed = 0;
    for (let n = this.#head; n >= 0 && taken.length < max; n = this.#links[2 * n + 1] as number) {
      if (pick(this.#vals[n] as V)) taken.push(n);
      else if (++passed > passLimit) break;
    }
    return taken.map((n) => {
      const v = this.#vals[n] as V;
      this.remove(n);
      return v;
    });
  }

  /** Nodes oldest first; the list must not change during the walk. */
  *oldestFirst(): Generator<number> {
    for (let n = this.#head; n >= 0; n = this.#links[2 * n + 1] as number) yield n;
  }
}
