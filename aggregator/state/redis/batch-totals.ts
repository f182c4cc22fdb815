// A service's totals as the memory backend reads them at each record of a
// batch: those before the batch plus the batch's records up to that one (the
// memory backend adds a record to its service's totals, then steps its
// rules). Read as they are after the whole batch, a record's rules counted
// the records after it that fall in the same sub-bucket: an IP's flood_ip
// share was lower and its run began later than on memory (69 records of one
// service in one batch, 23 of them from one IP: its `since` at its 14th
// record instead of its 3rd).
import type { RecordKind } from '../../../common/record';
import { IP_RULES } from '../../rules/registry';
import { STRIDE, type Counts } from '../../window';
import type { WindowId } from '../layout';
import type { IpRecs } from './replay';

/** The windows of a service's totals that some rule reads (IpRule.serviceWindows), and each one's place. */
const WINDOWS: readonly WindowId[] = [...new Set(IP_RULES.flatMap((rule) => rule.serviceWindows))].sort((a, b) => a - b);
const PLACE = new Map(WINDOWS.map((w, i) => [w, i]));
const F = 4; // requests, failures, successes, auth failures

/** Index of the first of `keys` (ascending) above `x`. */
function above(keys: Float64Array, x: number): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Per record of one service in a batch (`idx`: its records' indexes in
 * `recs`, in batch order), the counts of each window of WINDOWS over the
 * totals at that record: `before` (a series, ascending) and the batch's
 * records up to it, each window's key range at the record's clock. A
 * Fenwick tree over the batch's grid keys: O(n log n) for n records.
 */
export class BatchTotals {
  /** per record's place among the service's records (IpRecs.place), per window, F counts */
  readonly #sums: Float64Array;
  readonly #recs: IpRecs;

  /** `need`: per record of the batch, whether its rules are stepped (a hot key's): only their sums are made */
  constructor(before: readonly number[], recs: IpRecs, idx: readonly number[], ranges: (now: number) => Float64Array, need: Uint8Array) {
    this.#recs = recs;
    const n = idx.length;
    const W = WINDOWS.length;
    this.#sums = new Float64Array(n * W * F);
    // the totals before the batch as prefix sums by key
    const m = before.length / STRIDE;
    const bKeys = new Float64Array(m);
    const bPre = new Float64Array((m + 1) * F);
    for (let i = 0; i < m; i++) {
      bKeys[i] = before[i * STRIDE] as number;
      for (let f = 0; f < F; f++) bPre[(i + 1) * F + f] = (bPre[i * F + f] as number) + (before[i * STRIDE + 1 + f] as number);
    }
    // the batch's grid keys, distinct and ascending: the Fenwick tree's positions
    const keys = new Float64Array(n);
    for (let p = 0; p < n; p++) keys[p] = recs.key[idx[p] as number] as number;
    keys.sort();
    let k = 0;
    for (let p = 0; p < n; p++) if (p === 0 || keys[p] !== keys[k - 1]) keys[k++] = keys[p] as number;
    const uk = keys.subarray(0, k);
    const tree = new Float64Array((k + 1) * F);
    const add = (pos: number, kind: RecordKind) => {
      for (let i = pos + 1; i <= k; i += i & -i) {
        tree[i * F] = (tree[i * F] as number) + 1;
        if (kind.failure) tree[i * F + 1] = (tree[i * F + 1] as number) + 1;
        if (kind.success) tree[i * F + 2] = (tree[i * F + 2] as number) + 1;
        if (kind.auth) tree[i * F + 3] = (tree[i * F + 3] as number) + 1;
      }
    };
    // adds the counts of the first `count` positions, times `sign`, to sums at `at`
    const prefix = (count: number, sign: number, at: number) => {
      const s = this.#sums;
      for (let i = count; i > 0; i -= i & -i)
        for (let f = 0; f < F; f++) s[at + f] = (s[at + f] as number) + sign * (tree[i * F + f] as number);
    };
    for (let p = 0; p < n; p++) {
      const r = idx[p] as number;
      add(above(uk, recs.key[r] as number) - 1, recs.kind[r] as RecordKind);
      if (need[r] !== 1) continue;
      const rg = ranges(recs.now[r] as number);
      for (let j = 0; j < W; j++) {
        const w = WINDOWS[j] as WindowId;
        const from = rg[2 * w] as number;
        const to = rg[2 * w + 1] as number;
        const at = (p * W + j) * F;
        const bt = above(bKeys, to);
        const bf = Math.min(above(bKeys, from), bt);
        for (let f = 0; f < F; f++) this.#sums[at + f] = (bPre[bt * F + f] as number) - (bPre[bf * F + f] as number);
        const ht = above(uk, to);
        prefix(ht, 1, at);
        const hf = Math.min(above(uk, from), ht);
        if (hf > 0) prefix(hf, -1, at);
      }
    }
  }

  /** The totals' counts in window `w` at record `r` (an index in the batch's IpRecs of this service, one `need` named). */
  counts(r: number, w: WindowId, out: Counts): Counts {
    const p = this.#recs.place[r] as number;
    const j = PLACE.get(w);
    if (j === undefined) throw new RangeError(`no totals kept for window ${w}`);
    const at = (p * WINDOWS.length + j) * F;
    const s = this.#sums;
    out.requests = s[at] as number;
    out.failures = s[at + 1] as number;
    out.successes = s[at + 2] as number;
    out.auth_failures = s[at + 3] as number;
    return out;
  }
}
