// The in-memory state's index of IPv4 keys: (service id, address) -> node,
// an open-addressing hash table in one typed array (linear probing, deletion
// by backward shift, so no tombstones). Own code rather than a Map: a Map
// keyed by `id * 2^32 + address` boxed a number per record and, with
// hundreds of thousands of keys, cost several cache misses per lookup (bucket,
// entry, boxed key); here a lookup is one probe run in one array, usually one
// cache line. IPv6 and other string keys stay in a Map (IpIndex).
import { IPV4_SPAN, ipv4Number, NUMERIC_SERVICES } from './ipv4';

/** per slot: address (as int32), service id, node; one spare to keep slots 16 bytes */
const W = 4;
const EMPTY = -1;

export class Ipv4Index {
  #t = new Int32Array(0);
  #mask = 0;
  #size = 0;

  constructor() {
    this.#alloc(1024);
  }

  get size(): number {
    return this.#size;
  }

  #alloc(slots: number): void {
    this.#t = new Int32Array(slots * W).fill(EMPTY);
    this.#mask = slots - 1;
  }

  #home(sid: number, addr: number): number {
    let h = Math.imul(addr ^ Math.imul(sid, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h & this.#mask;
  }

  /** The slot holding (sid, addr), or where it would go (an empty one). */
  #find(sid: number, a: number): number {
    const t = this.#t;
    let i = this.#home(sid, a);
    for (;;) {
      const at = i * W;
      const node = t[at + 2] as number;
      if (node === EMPTY || (t[at] === a && t[at + 1] === sid)) return i;
      i = (i + 1) & this.#mask;
    }
  }

  /** The node of address `addr` (0 .. 2^32 - 1) of service `sid`, or -1. */
  get(sid: number, addr: number): number {
    return this.#t[this.#find(sid, addr | 0) * W + 2] as number;
  }

  /** Add (sid, addr) -> node; the key must not be held. */
  set(sid: number, addr: number, node: number): void {
    if (2 * (this.#size + 1) > this.#mask + 1) this.#rehash(2 * (this.#mask + 1));
    const at = this.#find(sid, addr | 0) * W;
    this.#t[at] = addr | 0;
    this.#t[at + 1] = sid;
    this.#t[at + 2] = node;
    this.#size++;
  }

  delete(sid: number, addr: number): void {
    const t = this.#t;
    const mask = this.#mask;
    let i = this.#find(sid, addr | 0);
    if (t[i * W + 2] === EMPTY) return;
    this.#size--;
    // backward shift: move up every later entry of the run that may sit in the hole
    for (let j = (i + 1) & mask; t[j * W + 2] !== EMPTY; j = (j + 1) & mask) {
      const home = this.#home(t[j * W + 1] as number, t[j * W] as number);
      // j's entry may move to i when its home is not cyclically within (i, j]
      if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
        t.copyWithin(i * W, j * W, j * W + W);
        i = j;
      }
    }
    t[i * W + 2] = EMPTY;
  }

  #rehash(slots: number): void {
    const old = this.#t;
    this.#alloc(slots);
    this.#size = 0;
    for (let at = 0; at < old.length; at += W) {
      const node = old[at + 2] as number;
      if (node !== EMPTY) {
        const i = this.#find(old[at + 1] as number, old[at] as number) * W;
        this.#t[i] = old[at] as number;
        this.#t[i + 1] = old[at + 1] as number;
        this.#t[i + 2] = node;
        this.#size++;
      }
    }
  }
}

/** IP keys -> node: IPv4 keys by (service id, address), the others by their LRU key (ipv4.ts). */
export class IpIndex {
  readonly #v4 = new Ipv4Index();
  readonly #other = new Map<string, number>();

  /** The node of IP key `ipKey` of service `sid`, or -1; no string built for IPv4. */
  get(sid: number, ipKey: string): number {
    return this.find(sid, ipKey, ipv4Number(ipKey));
  }

  /** get() with the key's IPv4 address (ipv4Number) already known: -1 when it is none. */
  find(sid: number, ipKey: string, v4: number): number {
    return v4 >= 0 && sid < NUMERIC_SERVICES ? this.#v4.get(sid, v4) : (this.#other.get(`${sid}|${ipKey}`) ?? -1);
  }

  /** Add LRU key `key` (not held) -> node. */
  set(key: number | string, node: number): void {
    if (typeof key === 'number') this.#v4.set(Math.floor(key / IPV4_SPAN), key % IPV4_SPAN, node);
    else this.#other.set(key, node);
  }

  delete(key: number | string): void {
    if (typeof key === 'number') this.#v4.delete(Math.floor(key / IPV4_SPAN), key % IPV4_SPAN);
    else this.#other.delete(key);
  }
}
