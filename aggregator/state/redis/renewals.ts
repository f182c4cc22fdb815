// When this aggregator last renewed the TTL of an IP key's history hash.
// Each writer keeps its own record, so a write needs nothing read from Redis
// to decide (a per-key HGET of a renewal field was a fifth of READ's work):
// a writer renews a hash it has not itself renewed within an eighth of the
// TTL, so the hash outlives that writer's last write by at least 7/8 of the
// TTL, whatever the other aggregators do (a PEXPIRE only ever pushes the
// expiry later, and a hash dropped and written again is renewed by whoever
// writes it first: batch.ts).

/** Keys remembered at most: when full, forgotten all at once (each is then renewed once more: harmless). */
export const RENEWALS_KEPT = 100_000;

export class Renewals {
  readonly #at = new Map<string, number>();
  constructor(readonly kept = RENEWALS_KEPT) {}

  /** Whether `key`'s hash is due a renewal at wall ms `wall`: not renewed by this aggregator in the last `periodMs` (a wall clock stepping back counts as due). */
  due(key: string, wall: number, periodMs: number): boolean {
    const t = this.#at.get(key);
    return t === undefined || wall - t >= periodMs || wall < t;
  }

  /** Record that the write renewing `keys` at wall ms `wall` ran (only then: a failed write renewed nothing). */
  renewed(keys: readonly string[], wall: number): void {
    for (const k of keys) {
      if (this.#at.size >= this.kept && !this.#at.has(k)) this.#at.clear();
      this.#at.set(k, wall);
    }
  }

  get size(): number {
    return this.#at.size;
  }
}
