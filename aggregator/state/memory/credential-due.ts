// When each credential candidate of a service must next be stepped by the
// sweep. A credential rule that says until when it holds with no new record
// (CredentialRule.holdsUntil: credential_ips until its N-th newest IP leaves
// the window) needs no step before then: at a clock tick a rule that still
// holds keeps its run. So the sweep steps the candidates whose time came,
// not every candidate every tick (with 50k candidates that walk was ~10% of
// a busy aggregator's CPU, and an attacker keeping 200k of them alive with
// 3 records each per window made it 45-115 ms per tick).
//
// Candidates are filed by the second their time comes (a wheel of arrays,
// one per second): the sweep takes every second up to the clock's, so a
// candidate is stepped at the first tick at or after its time, or earlier
// (then filed again), never later, as when every candidate was stepped.
// A candidate has one live filing: `e.due` is its second, or -1 when none.
// Records only move that time later, except past a credential's IP cap,
// where the pair dropped is the least recently used, which late records can
// make newer than the pairs a rule counts: a candidate at its cap is filed
// for the next tick, every tick (credential-entry.ts steppedAt).
import type { CredentialEntry } from './service';

export class CredentialDue {
  readonly #at = new Map<number, CredentialEntry[]>();
  /** set by a settings change: every candidate is stepped at the next sweep */
  #all = false;

  /** File `e` (with no live filing) to be stepped at clock `dueMs` or the first tick after it. */
  file(e: CredentialEntry, dueMs: number): void {
    const k = Math.floor(dueMs / 1000);
    e.due = k;
    const a = this.#at.get(k);
    if (a) a.push(e);
    else this.#at.set(k, [e]);
  }

  /** The settings changed (a window or threshold): step every candidate next time. */
  stepAll(): void {
    this.#all = true;
  }

  /**
   * The candidates to step at clock `now`, their filings taken out (a step
   * that leaves one a candidate files it again); `runs`: every candidate.
   */
  take(now: number, runs: readonly ReadonlyMap<CredentialEntry, unknown>[]): CredentialEntry[] {
    const out: CredentialEntry[] = [];
    if (this.#all) {
      this.#all = false;
      // every filing dropped, those of entries no longer candidates too (runs cleared at expiry)
      for (const [k, a] of this.#at) for (const e of a) if (e.due === k) e.due = -1;
      this.#at.clear();
      for (const m of runs)
        for (const e of m.keys())
          if (e.due !== -2) {
            e.due = -2; // taken once, whatever maps it is in
            out.push(e);
          }
      for (const e of out) e.due = -1;
      return out;
    }
    const sec = Math.floor(now / 1000);
    const keys: number[] = [];
    for (const k of this.#at.keys()) if (k <= sec) keys.push(k);
    for (const k of keys) {
      for (const e of this.#at.get(k) as CredentialEntry[])
        if (e.due === k) {
          // taken: a stale filing of it in the same bucket is passed over
          e.due = -2;
          if (!e.gone) out.push(e);
        }
      this.#at.delete(k);
    }
    for (const e of out) e.due = -1;
    return out;
  }
}
