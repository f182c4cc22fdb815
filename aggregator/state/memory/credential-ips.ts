// A credential's remembered IP keys, each with its newest ts, in order of
// last use (oldest first) and bounded by a cap: what the credential_ips rule
// reads (a ReadonlyMap, as rules/types.ts's CredentialCounts wants it).
//
// Held in two arrays of numbers, an IPv4 key as its address, rather than a
// Map of strings: a record then compares numbers in one contiguous array
// (the Map cost a hash, a bucket, an entry and the stored key string, each a
// cache miss, and garbage from its rehashes as pairs moved). Other keys
// (IPv6 prefixes) sit as strings beside them. Past SCAN_MAX pairs (a cap
// raised by SIEM_CREDENTIAL_MAX_IPS or credential_min_ips) a scan would cost
// more than a hash: the pairs move to a Map, as they were held before.
import { CREDENTIAL_IP_BYTES, stringBytes } from './key-budget';
import { ipv4Number, ipv4Text } from './ipv4';

/** pairs held in the arrays at most; more go to a Map */
export const SCAN_MAX = 128;

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
  /** per pair, oldest first: the IPv4 address, or -1 where the key is in #str */
  #num: number[] = [];
  #ts: number[] = [];
  /** the non-IPv4 keys by position (made at the first one) */
  #str: (string | undefined)[] | undefined;
  /** the pairs once over SCAN_MAX (the arrays then stay empty) */
  #map: Map<string, number> | undefined;

  /** From pairs oldest first (a snapshot's). */
  constructor(pairs: Iterable<readonly [string, number]> = []) {
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
    return this.#map ? this.#map.size : this.#num.length;
  }

  #push(num: number, ip: string, ts: number): void {
    if (this.#map) {
      this.#map.delete(ip);
      this.#map.set(ip, ts);
      return;
    }
    if (this.#num.length >= SCAN_MAX) {
      this.#map = new Map(this.entries());
      this.#num = [];
      this.#ts = [];
      this.#str = undefined;
      this.#map.set(ip, ts);
      return;
    }
    if (num < 0) (this.#str ??= new Array(this.#num.length).fill(undefined))[this.#num.length] = ip;
    else if (this.#str) this.#str[this.#num.length] = undefined;
    this.#num.push(num);
    this.#ts.push(ts);
  }

  /** The position of the key (`num` its IPv4 address or -1, `ip` its text), newest first; -1 when absent. */
  #find(num: number, ip: string): number {
    const nums = this.#num;
    if (num >= 0) {
      for (let i = nums.length - 1; i >= 0; i--) if (nums[i] === num) return i;
      return -1;
    }
    const str = this.#str;
    if (!str) return -1;
    for (let i = nums.length - 1; i >= 0; i--) if (nums[i] === -1 && str[i] === ip) return i;
    return -1;
  }

  /** Move pair i to the newest end with ts `ts`. */
  #toNewest(i: number, ts: number): void {
    const nums = this.#num;
    const tss = this.#ts;
    const last = nums.length - 1;
    const num = nums[i] as number;
    const str = this.#str;
    const s = str?.[i];
    for (let j = i; j < last; j++) {
      nums[j] = nums[j + 1] as number;
      tss[j] = tss[j + 1] as number;
    }
    if (str) for (let j = i; j < last; j++) str[j] = str[j + 1];
    nums[last] = num;
    tss[last] = ts;
    if (str) str[last] = s;
  }

  /** Take out the oldest pair; returns its weight. */
  #dropOldest(): number {
    const num = this.#num.shift() as number;
    this.#ts.shift();
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
    const nums = this.#num;
    const last = nums.length - 1;
    if (last >= 0 && nums[last] === num && (num >= 0 || this.#str?.[last] === ip) && last < cap) {
      // already the newest pair (a client sending again): nothing moves
      if (ts > (this.#ts[last] as number)) this.#ts[last] = ts;
      return 0;
    }
    const i = this.#find(num, ip);
    let delta = 0;
    if (i >= 0) this.#toNewest(i, Math.max(this.#ts[i] as number, ts));
    else {
      this.#push(num, ip, ts);
      delta += weightOf(num, ip);
      // #push may have moved the pairs to a Map (past SCAN_MAX)
      const map = this.#map as Map<string, number> | undefined;
      if (map) return delta + (map.size > cap ? this.#dropMappedOldest() : 0);
    }
    if (nums.length > cap) delta -= this.#dropOldest();
    return delta;
  }

  #seeMapped(ip: string, ts: number, cap: number): number {
    const map = this.#map as Map<string, number>;
    const prev = map.get(ip);
    let delta = 0;
    if (prev !== undefined) map.delete(ip);
    else delta += pairBytes(ip);
    map.set(ip, prev !== undefined && prev > ts ? prev : ts);
    if (map.size > cap) delta += this.#dropMappedOldest();
    return delta;
  }

  /** Take out the oldest pair of the Map; returns minus its weight. */
  #dropMappedOldest(): number {
    const map = this.#map as Map<string, number>;
    const oldest = map.keys().next().value as string;
    map.delete(oldest);
    return -pairBytes(oldest);
  }

  /** Forget every pair; returns the change of the weight. */
  clear(): number {
    const delta = -this.bytes;
    this.#num = [];
    this.#ts = [];
    this.#str = undefined;
    this.#map = undefined;
    return delta;
  }

  #keyAt(i: number): string {
    const num = this.#num[i] as number;
    return num >= 0 ? ipv4Text(num) : (this.#str?.[i] as string);
  }

  get(ip: string): number | undefined {
    if (this.#map) return this.#map.get(ip);
    const i = this.#find(ipv4Number(ip), ip);
    return i >= 0 ? this.#ts[i] : undefined;
  }

  has(ip: string): boolean {
    return this.get(ip) !== undefined;
  }

  /** The newest ts of each pair, oldest pair first (the rule's count walks these: no key text is made). */
  values(): MapIterator<number> {
    return this.#map ? this.#map.values() : this.#ts.values();
  }

  *keys(): MapIterator<string> {
    if (this.#map) {
      yield* this.#map.keys();
      return;
    }
    for (let i = 0; i < this.#num.length; i++) yield this.#keyAt(i);
  }

  *entries(): MapIterator<[string, number]> {
    if (this.#map) {
      yield* this.#map.entries();
      return;
    }
    for (let i = 0; i < this.#num.length; i++) yield [this.#keyAt(i), this.#ts[i] as number];
  }

  [Symbol.iterator](): MapIterator<[string, number]> {
    return this.entries();
  }

  forEach(fn: (ts: number, ip: string, map: ReadonlyMap<string, number>) => void): void {
    if (this.#map) {
      for (const [ip, ts] of this.#map) fn(ts, ip, this);
      return;
    }
    for (let i = 0; i < this.#num.length; i++) fn(this.#ts[i] as number, this.#keyAt(i), this);
  }

  /** As forEach, an IPv4 pair given as its address (`ip` then ''), others as `v4` -1: no string built per pair (the snapshot writer). */
  forEachAddress(fn: (ts: number, v4: number, ip: string) => void): void {
    if (this.#map) {
      for (const [ip, ts] of this.#map) fn(ts, -1, ip);
      return;
    }
    for (let i = 0; i < this.#num.length; i++) {
      const num = this.#num[i] as number;
      fn(this.#ts[i] as number, num, num >= 0 ? '' : (this.#str?.[i] as string));
    }
  }
}
