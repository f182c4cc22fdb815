// The in-memory state's recency order of all its keys (IP and credential
// alike): an intrusive doubly linked list over node numbers, its links in two
// typed arrays, least recently seen at the head. The state keeps its own
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
  #prev = new Int32Array(0);
  #next = new Int32Array(0);
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
    const prev = new Int32Array(cap);
    prev.set(this.#prev);
    const next = new Int32Array(cap);
    next.set(this.#next);
    this.#prev = prev;
    this.#next = next;
  }

  /** Add `v` as the newest (evicting the oldest first when `max` are held); returns its node. */
  add(v: V): number {
    if (this.#size >= this.#max) this.evictOldest();
    let n = this.#free;
    if (n >= 0) this.#free = this.#next[n] as number;
    else {
      if (this.#used >= this.#prev.length) this.#grow(Math.min(this.#max, this.#prev.length * 2));
      n = this.#used++;
    }
    this.#vals[n] = v;
    this.#prev[n] = this.#tail;
    this.#next[n] = -1;
    if (this.#tail >= 0) this.#next[this.#tail] = n;
    else this.#head = n;
    this.#tail = n;
    this.#size++;
    return n;
  }

  /** Node `n` becomes the newest. */
  touch(n: number): void {
    if (n === this.#tail) return;
    const prev = this.#prev;
    const next = this.#next;
    const p = prev[n] as number;
    const x = next[n] as number;
    // not the tail: x >= 0
    prev[x] = p;
    if (p >= 0) next[p] = x;
    else this.#head = x;
    prev[n] = this.#tail;
    next[n] = -1;
    next[this.#tail] = n;
    this.#tail = n;
  }

  value(n: number): V {
    return this.#vals[n] as V;
  }

  /** Take node `n` out (its value is not told). */
  remove(n: number): void {
    const prev = this.#prev;
    const next = this.#next;
    const p = prev[n] as number;
    const x = next[n] as number;
    if (p >= 0) next[p] = x;
    else this.#head = x;
    if (x >= 0) prev[x] = p;
    else this.#tail = p;
    this.#vals[n] = undefined;
    next[n] = this.#free;
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

  /** Nodes oldest first; the list must not change during the walk. */
  *oldestFirst(): Generator<number> {
    for (let n = this.#head; n >= 0; n = this.#next[n] as number) yield n;
  }
}
