// IpCounts over window.ts series at one clock bucket: the Redis backend's
// view of an IP key (read back from Redis) and of its service's totals.
import type { IpCounts } from '../rules/types';
import { emptyCounts, sumSeries, type Counts } from '../window';
import type { Layout, WindowId } from './layout';

export class SeriesCounts implements IpCounts {
  #layout!: Layout;
  #series: readonly number[] = [];
  #totals: readonly number[] = [];
  #c = 0;
  #ipDone = 0;
  #svcDone = 0;
  readonly #ip: Counts[] = [];
  readonly #total: Counts[] = [];

  /** Point at an IP key's `series` and its service's `totals`, with the clock in bucket `c`. */
  at(layout: Layout, series: readonly number[], totals: readonly number[], c: number): this {
    this.#layout = layout;
    this.#series = series;
    this.#totals = totals;
    this.#c = c;
    this.#ipDone = 0;
    this.#svcDone = 0;
    return this;
  }

  /** The IP key's series changed (a record added): sums are stale. */
  touched(): void {
    this.#ipDone = 0;
  }

  ip(w: WindowId): Counts {
    const out = (this.#ip[w] ??= emptyCounts());
    if (!(this.#ipDone & (1 << w))) {
      this.#ipDone |= 1 << w;
      sumSeries(this.#series, this.#c - (this.#layout.back[w] as number), this.#c - (this.#layout.till[w] as number), out);
    }
    return out;
  }

  service(w: WindowId): Counts {
    const out = (this.#total[w] ??= emptyCounts());
    if (!(this.#svcDone & (1 << w))) {
      this.#svcDone |= 1 << w;
      sumSeries(this.#totals, this.#c - (this.#layout.back[w] as number), this.#c - (this.#layout.till[w] as number), out);
    }
    return out;
  }
}
