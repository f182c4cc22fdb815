// When this aggregator last renewed the TTL of an IP key's history hash.
// Each writer keeps its own record, so a write needs nothing read from Redis
// to decide (a per-key HGET of a renewal field was a fifth of READ's work):
// a writer renews a hash it has not itself renewed within an eighth of the
// TTL, so the hash outlives that writer's last write by at least 7/8 of the
// TTL, whatever the other aggregators do (a PEXPIRE only ever pushes the
// expiry later, and a hash dropped and written again is renewed by whoever
// writes it first: count-writes.ts).
//
// A table of fixed size, one key per slot, each slot four int32s: the
// name's two 32-bit hashes (FNV-1a and a multiply-xorshift: a different name
// taken for a renewed one needs both to match, about 2^-64), the wall second
// of the renewal and the TTL it set (a settings change that lengthens the TTL
// makes a hash due at once, rather than once the new, longer period passed:
// it would expire on the old TTL meanwhile); a key whose slot another took is
// due again (one renewal more, harmless). Not a Map of names: ~20k names looked up with
// each batch's new strings cost about 1 us per lookup here (cache misses),
// and holding the names kept them alive through the collector's scavenges.

/** Slots (a power of two): keys remembered at most. */
export const RENEWAL_SLOTS = 1 << 17;

export class Renewals {
  /** per slot: hash 1, hash 2, the renewal's wall second since 2020 (an empty slot's 0 is long past: due), the TTL it set in seconds */
  readonly #t: Int32Array;
  readonly #mask: number;
  #h2 = 0;
  constructor(slots = RENEWAL_SLOTS) {
    this.#t = new Int32Array(4 * slots);
    this.#mask = slots - 1;
  }

  /** the name's first hash (returned) and second (#h2) */
  #hash(key: string): number {
    let h = 0x811c9dc5;
    let g = 0x9747b28c;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      h = Math.imul(h ^ c, 16777619);
      g = Math.imul(g ^ c, 0x5bd1e995);
      g ^= g >>> 15;
    }
    this.#h2 = g;
    return h;
  }

  #sec(wall: number): number {
    return Math.floor(wall / 1000) - 1_577_836_800;
  }

  /**
   * Whether `key`'s hash is due a renewal at wall ms `wall`, so that it
   * outlives this write by `needMs`: unless this aggregator's last renewal
   * of it (its second and TTL) reaches that far (a wall clock stepping back
   * counts as due).
   */
  due(key: string, wall: number, needMs: number): boolean {
    const h = this.#hash(key);
    const i = 4 * (h & this.#mask);
    const t = this.#t;
    if (t[i] !== h || t[i + 1] !== this.#h2) return true;
    // whole seconds, the renewal's rounded down and its TTL too: errs towards due
    const age = this.#sec(wall) - (t[i + 2] as number);
    return age < 0 || age * 1000 >= (t[i + 3] as number) * 1000 - needMs - 1000;
  }

  /** Record that the write renewing `keys[j]` with TTL `ttlMs[j]` at wall ms `wall` ran (only then: a failed write renewed nothing). */
  renewed(keys: readonly string[], ttlMs: readonly number[], wall: number): void {
    const sec = this.#sec(wall);
    for (let j = 0; j < keys.length; j++) {
      const h = this.#hash(keys[j] as string);
      const i = 4 * (h & this.#mask);
      this.#t[i] = h;
      this.#t[i + 1] = this.#h2;
      this.#t[i + 2] = sec;
      this.#t[i + 3] = Math.floor((ttlMs[j] as number) / 1000);
    }
  }
}
