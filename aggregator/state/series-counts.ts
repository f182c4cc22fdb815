// IpCounts over window.ts series on the one grid (level-grid.ts) at one
// clock: the Redis backend's view of an IP key (read back from Redis) and of
// its service's totals, and the rules' unit tests.
import type { IpCounts } from '../rules/types';
import { emptyCounts, STRIDE, sumSeries, type Counts } from '../window';
import type { GridLayout, WindowId } from './layout';
import { windowFrom, windowTo } from './level-grid';

/** Per WindowId the key range (from, to] of the window at clock `now`: from at 2w, to at 2w + 1. */
export function windowRanges(L: GridLayout, now: number): Float64Array {
  const out = new Float64Array(2 * L.windows.length);
  L.windows.forEach((wl, w) => {
    out[2 * w] = windowFrom(wl, now);
    out[2 * w + 1] = windowTo(wl, now);
  });
  return out;
}

/** A service's totals at each record of a batch (redis/batch-totals.ts): `r` a record's index. */
export interface TotalsAtRecord {
  counts(r: number, w: WindowId, out: Counts): Counts;
}

/**
 * IpCounts over series on the grid at one clock (the windows' key ranges):
 * each window summed at most once per `at()`, into reused objects.
 */
export class GridCounts implements IpCounts {
  #ranges: Float64Array = new Float64Array(0);
  #series: readonly number[] = [];
  #totals: readonly number[] = [];
  /** the totals at record #record of a batch, instead of #totals */
  #atRecord: TotalsAtRecord | undefined;
  #record = 0;
  #ipDone = 0;
  #svcDone = 0;
  readonly #ip: Counts[] = [];
  readonly #total: Counts[] = [];

  /** Point at an IP key's `series` and its service's `totals`, with the windows' key ranges `ranges` (windowRanges). */
  at(ranges: Float64Array, series: readonly number[], totals: readonly number[]): this {
    this.#ranges = ranges;
    this.#series = series;
    this.#totals = totals;
    this.#atRecord = undefined;
    this.#ipDone = 0;
    this.#svcDone = 0;
    return this;
  }

  /** As at(), the service's totals those at record `r` of a batch. */
  atRecord(ranges: Float64Array, series: readonly number[], totals: TotalsAtRecord, r: number): this {
    this.at(ranges, series, []);
    this.#atRecord = totals;
    this.#record = r;
    return this;
  }

  ip(w: WindowId): Counts {
    const out = (this.#ip[w] ??= emptyCounts());
    if (!(this.#ipDone & (1 << w))) {
      this.#ipDone |= 1 << w;
      sumSeries(this.#series, this.#ranges[2 * w] as number, this.#ranges[2 * w + 1] as number, out);
    }
    return out;
  }

  service(w: WindowId): Counts {
    const out = (this.#total[w] ??= emptyCounts());
    if (!(this.#svcDone & (1 << w))) {
      this.#svcDone |= 1 << w;
      if (this.#atRecord !== undefined) return this.#atRecord.counts(this.#record, w, out);
      sumBefore(this.#totals, this.#ranges[2 * w] as number, this.#ranges[2 * w + 1] as number, out);
    }
    return out;
  }
}

/**
 * sumSeries for a series that may run on past `to` (totals read at a clock
 * behind another aggregator's records): the newest entry at or before `to`
 * found by binary search, not by walking the ones after.
 */
function sumBefore(series: readonly number[], from: number, to: number, out: Counts): Counts {
  out.requests = out.failures = out.successes = out.auth_failures = 0;
  let lo = 0;
  let hi = series.length / STRIDE;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((series[mid * STRIDE] as number) <= to) lo = mid + 1;
    else hi = mid;
  }
  for (let i = (lo - 1) * STRIDE; i >= 0; i -= STRIDE) {
    if ((series[i] as number) <= from) break;
    out.requests += series[i + 1] as number;
    out.failures += series[i + 2] as number;
    out.successes += series[i + 3] as number;
    out.auth_failures += series[i + 4] as number;
  }
  return out;
}
