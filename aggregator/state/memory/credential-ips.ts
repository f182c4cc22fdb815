// A credential's remembered IP keys, each with its newest ts, in order of
// last use (oldest first) and bounded by a cap: what the credential_ips rule
// reads (a ReadonlyMap, as rules/types.ts's CredentialCounts wants it).
//
// Held as numbers, an IPv4 key as its address, in one run of the state's
// PairPool (pair-pool.ts), rather than a Map of strings: a record then
// compares numbers in one contiguous run (the Map cost a hash, a bucket, an
// entry and the stored key string, each a cache miss, and garbage from its
// rehashes as pairs moved). Other keys (IPv6 prefixes) sit as strings beside
// them. Past SCAN_MAX pairs (a cap raised by SIEM_CREDENTIAL_MAX_IPS or
// credential_min_ips) a scan would cost more than a hash: the pairs move to
// a Map, as they were held before.
import { CREDENTIAL_IP_BYTES, stringBytes } from './key-budget';
import { ipv4Number, ipv4Text } from './ipv4';
import { MAX_CLASS, PairPool } from './pair-pool';

/** pairs held in the pool at most; more go to a Map */
export const SCAN_MAX = 2 ** MAX_CLASS;

/** The accounted weight of one pair (key-budget.ts). */
export const pairBytes = (ip: string) => CREDENTIAL_IP_BYTES + stringBytes(ip);

/** stringBytes of an IPv4 address's dotted text, without building it. */
function ipv4PairBytes(n: number): number {
  let len = 3;
  for (let shift = 16777216; shift >= 1; shift /= 256) {
    const octet = Math.floor(n / shift) % 256;
    len += octet >= 100 ? 3 : octet >= 10 ? 2 : 1;
  }
  return CREDENTIAL_IP_BYTES + Math.ceil((16 + len) / 8) * 16;
}

/** The weight of a pair held as `num` (its IPv4 address, else -1 with `ip` its text). */
const weightOf = (num: number, ip: string): number => (num >= 0 ? ipv4PairBytes(num) : pairBytes(ip));

export class CredentialIps implements ReadonlyMap<string, number> {
  readonly #pool: PairPool;
  /** the run's first pair in the pool, and its class (2^k pairs; -1: no run) */
  #at = 0;
  #k = -1;
  /** pairs held in the run, oldest first */
  #n = 0;
  /** the non-IPv4 keys by position (made at the first one) */
  #str: (string | undefined)[] | undefined;
  /** the pairs once over SCAN_MAX (then there is no run) */
  #map: Map<string, number> | undefined;
  /**
   * In the Map: the pairs newer than #countFrom, kept up to date by every
   * pair seen or dropped (NaN: none kept). A cap raised by
   * credential_min_ips (up to 10^6, from a batch's settings) made each
   * record of a credential at its cap walk every pair; with the wall clock
   * a batch asks at one clock, so its first record walks and the rest read
   * this (the walks counted in `walks`, for tests and measurements).
   */
  #countFrom = Number.NaN;
  #count = 0;
  walks = 0;

  /** From pairs oldest first (a snapshot's). */
  constructor(pool: PairPool, pairs: Iterable<readonly [string, number]> = []) {
    this.#pool = pool;
    for (const [ip, ts] of pairs) this.#push(ipv4Number(ip), ip, ts);
  }

  /** The weight of every pair held (key-budget.ts). */
  get bytes(): number {
    let b = 0;
    this.forEachAddress((_ts, v4, ip) => {
      b += weightOf(v4, ip);
    });
    return b;
  }

  get size(): number {
    return this.#map ? this.#map.size : this.#n;
  }

  /** Pairs whose ts is after `fromTs`, counted up to `stopAt` at most (the credential_ips rule's walk, no iterator). */
  countSince(fromTs: number, stopAt: number): number {
    if (this.#map) {
      if (fromTs !== this.#countFrom) {
        let c = 0;
        for (const ts of this.#map.values()) if (ts > fromTs) c++;
        this.#countFrom = fromTs;
        this.#count = c;
        this.walks++;
      }
      return Math.min(this.#count, stopAt);
    }
    const a = this.#pool.a;
    const end = 2 * (this.#at + this.#n);
    let c = 0;
    for (let j = 2 * this.#at + 1; j < end; j += 2) if ((a[j] as number) > fromTs && ++c >= stopAt) break;
    return c;
  }

  #push(num: number, ip: string, ts: number): void {
    this.#countFrom = Number.NaN;
    if (this.#map) {
      this.#map.delete(ip);
      this.#map.set(ip, ts);
      return;
    }
    const n = this.#n;
    if (n >= SCAN_MAX) {
      const map = new Map(this.entries());
      this.#release();
      this.#map = map;
      map.set(ip, ts);
      return;
    }
    if (this.#k < 0 || n === 1 << this.#k) this.#grow();
    if (num < 0) (this.#str ??= new Array(n).fill(undefined))[n] = ip;
    else if (this.#str) this.#str[n] = undefined;
    const a = this.#pool.a;
    const at = 2 * (this.#at + n);
    a[at] = num;
    a[at + 1] = ts;
    this.#n = n + 1;
  }

  /** Move the pairs to a run twice as large (the first run holds one pair). */
  #grow(): void {
    const pool = this.#pool;
    const k = this.#k + 1;
    const at = pool.alloc(k);
    // after alloc: the pool's array may have been replaced
    const a = pool.a;
    if (this.#k >= 0) {
      a.copyWithin(2 * at, 2 * this.#at, 2 * (this.#at + this.#n));
      pool.free(this.#at, this.#k);
    }
    this.#at = at;
    this.#k = k;
  }

  /** Give the run back; no pairs left. */
  #release(): void {
    this.#countFrom = Number.NaN;
    if (this.#k >= 0) this.#pool.free(this.#at, this.#k);
    this.#k = -1;
    this.#n = 0;
    this.#str = undefined;
  }

  /** The position of the key (`num` its IPv4 address or -1, `ip` its text), newest first; -1 when absent. */
  #find(num: number, ip: string): number {
    const a = this.#pool.a;
    const base = 2 * this.#at;
    if (num >= 0) {
      for (let i = this.#n - 1; i >= 0; i--) if (a[base + 2 * i] === num) return i;
      return -1;
    }
    const str = this.#str;
    if (!str) return -1;
    for (let i = this.#n - 1; i >= 0; i--) if (a[base + 2 * i] === -1 && str[i] === ip) return i;
    return -1;
  }

  /** Move pair i to the newest end with ts `ts`. */
  #toNewest(i: number, ts: number): void {
    const a = this.#pool.a;
    const last = 2 * (this.#at + this.#n - 1);
    const from = 2 * (this.#at + i);
    const num = a[from] as number;
    for (let j = from; j < last; j++) a[j] = a[j + 2] as number;
    a[last] = num;
    a[last + 1] = ts;
    const str = this.#str;
    if (str) {
      const s = str[i];
      for (let j = i; j < this.#n - 1; j++) str[j] = str[j + 1];
      str[this.#n - 1] = s;
    }
  }

  /** Take out the oldest pair; returns its weight. */
  #dropOldest(): number {
    const a = this.#pool.a;
    const base = 2 * this.#at;
    const num = a[base] as number;
    a.copyWithin(base, base + 2, base + 2 * this.#n);
    this.#n--;
    const s = this.#str?.shift();
    return weightOf(num, s as string);
  }

  /**
   * The credential seen from IP key `ip` (`num`: its IPv4 address, else -1)
   * at `ts`: the pair moves to the newest end keeping the newer ts, and the
   * oldest goes when over `cap`. Returns the change of the accounted weight.
   */
  see(num: number, ip: string, ts: number, cap: number): number {
    if (this.#map) return this.#seeMapped(ip, ts, cap);
    const a = this.#pool.a;
    const last = this.#n - 1;
    const at = 2 * (this.#at + last);
    if (last >= 0 && a[at] === num && (num >= 0 || this.#str?.[last] === ip) && last < cap) {
      // already the newest pair (a client sending again): nothing moves
      if (ts > (a[at + 1] as number)) a[at + 1] = ts;
      return 0;
    }
    const i = this.#find(num, ip);
    let delta = 0;
    if (i >= 0) this.#toNewest(i, Math.max(a[2 * (this.#at + i) + 1] as number, ts));
    else {
      this.#push(num, ip, ts);
      delta += weightOf(num, ip);
      // #push may have moved the pairs to a Map (past SCAN_MAX)
      const map = this.#map as Map<string, number> | undefined;
      if (map) return delta + (map.size > cap ? this.#dropMappedOldest() : 0);
    }
    if (this.#n > cap) delta -= this.#dropOldest();
    return delta;
  }

  #seeMapped(ip: string, ts: number, cap: number): number {
    const map = this.#map as Map<string, number>;
    const prev = map.get(ip);
    let delta = 0;
    if (prev !== undefined) map.delete(ip);
    else delta += pairBytes(ip);
    const now = prev !== undefined && prev > ts ? prev : ts;
    map.set(ip, now);
    // the kept count: a pair newer than #countFrom that was not (NaN compares false)
    if (now > this.#countFrom && !(prev !== undefined && prev > this.#countFrom)) this.#count++;
    if (map.size > cap) delta += this.#dropMappedOldest();
    return delta;
  }

  /** Take out the oldest pair of the Map; returns minus its weight. */
  #dropMappedOldest(): number {
    const map = this.#map as Map<string, number>;
    const oldest = map.keys().next().value as string;
    if ((map.get(oldest) as number) > this.#countFrom) this.#count--;
    map.delete(oldest);
    return -pairBytes(oldest);
  }

  /** Forget every pair (its run given back to the pool); returns the change of the weight. */
  clear(): number {
    const delta = -this.bytes;
    this.#release();
    this.#map = undefined;
    return delta;
  }

  /** Move the run into the pool's new array (PairPool.beginCompaction). */
  relocate(): void {
    if (this.#k >= 0) this.#at = this.#pool.place(this.#at, this.#k);
  }

  /** Give the run back to the pool (the key left the state: its weight went with it); no pairs left. */
  dispose(): void {
    this.#release();
    this.#map = undefined;
  }

  #num(i: number): number {
    return this.#pool.a[2 * (this.#at + i)] as number;
  }

  #tsAt(i: number): number {
    return this.#pool.a[2 * (this.#at + i) + 1] as number;
  }

  #keyAt(i: number): string {
    const num = this.#num(i);
    return num >= 0 ? ipv4Text(num) : (this.#str?.[i] as string);
  }

  get(ip: string): number | undefined {
    if (this.#map) return this.#map.get(ip);
    const i = this.#find(ipv4Number(ip), ip);
    return i >= 0 ? this.#tsAt(i) : undefined;
  }

  has(ip: string): boolean {
    return this.get(ip) !== undefined;
  }

  /** The newest ts of each pair, oldest pair first. */
  *values(): MapIterator<number> {
    if (this.#map) {
      yield* this.#map.values();
      return;
    }
    for (let i = 0; i < this.#n; i++) yield this.#tsAt(i);
  }

  *keys(): MapIterator<string> {
    if (this.#map) {
      yield* this.#map.keys();
      return;
    }
    for (let i = 0; i < this.#n; i++) yield this.#keyAt(i);
  }

  *entries(): MapIterator<[string, number]> {
    if (this.#map) {
      yield* this.#map.entries();
      return;
    }
    for (let i = 0; i < this.#n; i++) yield [this.#keyAt(i), this.#tsAt(i)];
  }

  [Symbol.iterator](): MapIterator<[string, number]> {
    return this.entries();
  }

  forEach(fn: (ts: number, ip: string, map: ReadonlyMap<string, number>) => void): void {
    if (this.#map) {
      for (const [ip, ts] of this.#map) fn(ts, ip, this);
      return;
    }
    for (let i = 0; i < this.#n; i++) fn(this.#tsAt(i), this.#keyAt(i), this);
  }

  /** As forEach, an IPv4 pair given as its address (`ip` then ''), others as `v4` -1: no string built per pair (the snapshot writer). */
  forEachAddress(fn: (ts: number, v4: number, ip: string) => void): void {
    if (this.#map) {
      for (const [ip, ts] of this.#map) fn(ts, -1, ip);
      return;
    }
    for (let i = 0; i < this.#n; i++) {
      const num = this.#num(i);
      fn(this.#tsAt(i), num, num >= 0 ? '' : (this.#str?.[i] as string));
    }
  }
}
