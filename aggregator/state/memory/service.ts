// One service of the in-memory state: its settings and layout, its totals,
// and per rule the candidates with their runs (rules/step.ts), so findings,
// top lists and gauges cost work in proportion to flagged entities, never to
// all tracked keys.
import { CredentialDue } from './credential-due';
import type { DetectionSettings } from '../../../common/settings';
import { CREDENTIAL_RULES, IP_RULES } from '../../rules/registry';
import type { Run } from '../../rules/types';
import { addToHistogram, emptyCounts, sumHistogram, sumSeries, type Counts } from '../../window';
import { gridLayoutOf, WINDOW, WINDOW_COUNT, type GridLayout, type WindowId } from '../layout';
import { bucketAt, histogramRemove, insertKey, mergeSeries, windowFrom, windowTo, type WindowLevel } from '../level-grid';
import type { IpCounts } from '../../rules/types';
import type { IpSlots } from './ip-slots';
import { TopCandidates, type Histories } from './top-candidates';
import type { CredentialIps } from './credential-ips';

/** IP keys are slots of IpSlots; the LRU holds the slot number. */
export type Slot = number;

export interface CredentialEntry {
  readonly kind: 'credential';
  readonly svc: ServiceState;
  readonly key: string;
  lastTs: number;
  /** IP key -> newest ts, in order of last use (oldest first) */
  readonly ips: CredentialIps;
  /** bit i set while the entry is in its service's credentialRuns[i] */
  inRuns: number;
  /**
   * The first credential rule's run while bit 0 is set, as in
   * credentialRuns[0]: a record's step reads it here (one rule today)
   * rather than in a map of every candidate, a cache miss or two.
   */
  run0: Run;
  /** set when the key left the state (a snapshot being taken skips it) */
  gone?: true;
  /** the second of its live filing in its service's credentialDue, -1 when none */
  due: number;
  /** accounted weight (key-budget.ts), its IP pairs included */
  bytes: number;
  /** its node in the state's recency order (recency.ts) */
  node: number;
}

export class ServiceState {
  settings!: DetectionSettings;
  layout!: GridLayout;
  /**
   * Generation of this service's IP histories (an index into the state's
   * registry): one per service on the one grid (level-grid.ts), whatever its
   * settings. A slot's generation names its service.
   */
  gen = -1;
  /** every generation this service has had (given back with its place) */
  readonly gens: number[] = [];
  /** newest record's ts (-Infinity: none yet); a service idle for its longest window gives its place back */
  lastTs = -Infinity;
  /** service-wide [key, requests, failures, successes, auth failures] on the grid (level-grid.ts) */
  totals: number[] = [];
  /** [key, IP keys whose newest record is in that sub-bucket] on the grid */
  lastSeenHist: number[] = [];
  ipKeys = 0;
  credentialKeys = 0;
  /** this service's credential keys by credential */
  readonly credentials = new Map<string, CredentialEntry>();
  /** the grid's merges of totals and lastSeenHist are due only when the clock enters another second (level-grid.ts) */
  #mergedSec = Number.NEGATIVE_INFINITY;
  /** per IP rule (registry order): candidate -> its run */
  readonly ipRuns: Map<Slot, Run>[] = IP_RULES.map(() => new Map());
  /** per credential rule (registry order): candidate -> its run */
  readonly credentialRuns: Map<CredentialEntry, Run>[] = CREDENTIAL_RULES.map(() => new Map());
  /** when each credential candidate is next stepped by the sweep */
  readonly credentialDue = new CredentialDue();
  topRequests!: TopCandidates;
  topErrors!: TopCandidates;
  /** the slots' histories as this service's top candidates read them: other generations hold nothing */
  readonly #hist: Histories;

  constructor(
    readonly name: string,
    readonly id: number,
    settings: DetectionSettings,
    /** a fresh generation for this service (the state's registry) */
    readonly newGen: (svc: ServiceState) => number,
    slots: IpSlots,
  ) {
    this.#hist = {
      entries: (e) => (slots.gen(e) === this.gen ? slots.entries(e) : 0),
      // the top lists rank by the window's sub-buckets (its level's)
      entryBucket: (e, i) => bucketAt(slots.entryBucket(e, i), (this.layout.windows[WINDOW.window] as WindowLevel).level),
      entryCount: (e, i, field) => slots.entryCount(e, i, field),
      all: () => slots.ofGen(this.gen),
    };
    this.gen = this.newGen(this);
    this.gens.push(this.gen);
    this.configure(settings);
  }

  /** Merge the totals and lastSeenHist to the grid at clock `now` (cheap when nothing is due). */
  merge(now: number): void {
    const sec = Math.floor(now / 1000);
    if (sec === this.#mergedSec) return;
    this.#mergedSec = sec;
    mergeSeries(this.totals, now);
    mergeSeries(this.lastSeenHist, now, 2);
  }

  /** the finest level any window reads: records are written from it up (level-grid.ts insertKey) */
  finest = 0;
  /** per WindowId its key range [from, to] at the clock #rangesAt (one computation per clock value, not per window read) */
  readonly #ranges = new Float64Array(2 * WINDOW_COUNT);
  #rangesAt = Number.NaN;
  #oldest = 0;

  /** The windows' key ranges at clock `now`: from of window w at 2w, to at 2w + 1. */
  rangesAt(now: number): Float64Array {
    if (now !== this.#rangesAt) {
      let oldest = Number.POSITIVE_INFINITY;
      const windows = this.layout.windows;
      for (let w = 0; w < windows.length; w++) {
        const wl = windows[w] as WindowLevel;
        const from = windowFrom(wl, now);
        this.#ranges[2 * w] = from;
        this.#ranges[2 * w + 1] = windowTo(wl, now);
        if (from + 1 < oldest) oldest = from + 1;
      }
      this.#oldest = oldest;
      this.#rangesAt = now;
    }
    return this.#ranges;
  }

  /** The oldest key any window reads at clock `now` (layout.ts oldestKey): older entries can go. */
  oldestAt(now: number): number {
    this.rangesAt(now);
    return this.#oldest;
  }

  /** An IP key's newest record is no longer at `ts` (it moved on, or the key left). */
  unseen(ts: number, now: number): void {
    this.merge(now);
    histogramRemove(this.lastSeenHist, ts);
  }

  /**
   * An IP key's newest record is at `ts` now. Counted from the finest level
   * whatever the windows (at most ~120 entries of 0.1 s per service): the
   * unique IPs of a window are then those whose newest record is in its
   * sub-buckets, as the Redis backend counts them in its last-seen index.
   */
  seen(ts: number, now: number): void {
    addToHistogram(this.lastSeenHist, insertKey(ts, now), 1);
  }

  /** IP keys whose newest record is in the window at `now` (the unique IPs gauge). */
  uniqueIps(now: number): number {
    this.merge(now);
    const wl = this.layout.windows[WINDOW.window] as WindowLevel;
    return sumHistogram(this.lastSeenHist, windowFrom(wl, now), windowTo(wl, now));
  }

  /** Settings `s` in force: every history is kept (one grid); the top lists rank afresh when their window reads another level. */
  configure(s: DetectionSettings): void {
    const layout = gridLayoutOf(s);
    const relevel =
      this.layout !== undefined &&
      (layout.windows[WINDOW.window] as WindowLevel).level !== (this.layout.windows[WINDOW.window] as WindowLevel).level;
    const cap = Math.max(256, 4 * s.top_n);
    if (!this.topRequests) {
      this.topRequests = new TopCandidates(cap, 1, this.#hist);
      this.topErrors = new TopCandidates(cap, 2, this.#hist);
    } else if (this.topRequests.cap !== cap) {
      this.topRequests = this.topRequests.resized(cap);
      this.topErrors = this.topErrors.resized(cap);
    }
    // the candidates' times depend on the settings (none yet at the first)
    if (this.settings !== undefined) this.credentialDue.stepAll();
    this.settings = s;
    this.layout = layout;
    this.#rangesAt = Number.NaN;
    this.finest = Math.min(...layout.windows.map((wl) => wl.level));
    if (relevel) {
      this.topRequests.relevel();
      this.topErrors.relevel();
    }
  }
}

/**
 * IpCounts over one slot at one clock: each window summed at most once
 * per `at()`, into reused objects (ingest allocates nothing per record).
 */
export class SlotCounts implements IpCounts {
  readonly #slots: IpSlots;
  #svc!: ServiceState;
  #slot = 0;
  #now = 0;
  #current = false;
  #ipDone = 0;
  #svcDone = 0;
  readonly #ip: Counts[] = [];
  readonly #total: Counts[] = [];

  constructor(slots: IpSlots) {
    this.#slots = slots;
  }

  /** the newest record's ts of the slot pointed at */
  get lastTs(): number {
    return this.#slots.lastTs(this.#slot);
  }

  /** Point at `slot` of `svc` with the clock at `now`. */
  at(svc: ServiceState, slot: Slot, now: number): this {
    this.#svc = svc;
    this.#slot = slot;
    this.#now = now;
    // a slot of another service (a freed one taken again) counts nothing
    this.#current = this.#slots.gen(slot) === svc.gen;
    this.#ipDone = 0;
    this.#svcDone = 0;
    return this;
  }

  /**
   * Whether window `w` holds a request (field 1) or a failure (field 2): ip(w)'s count above 0 (counts are never
   * negative), from the newest entry back and stopping at the first, not summing the whole window.
   */
  any(w: WindowId, field: 1 | 2): boolean {
    if (!this.#current) return false;
    const r = this.#svc.rangesAt(this.#now);
    const from = r[2 * w] as number;
    const to = r[2 * w + 1] as number;
    const slots = this.#slots;
    for (let i = slots.entries(this.#slot) - 1; i >= 0; i--) {
      const b = slots.entryBucket(this.#slot, i);
      if (b <= from) return false;
      if (b <= to && slots.entryCount(this.#slot, i, field) > 0) return true;
    }
    return false;
  }

  ip(w: WindowId): Counts {
    const out = (this.#ip[w] ??= emptyCounts());
    if (!(this.#ipDone & (1 << w))) {
      this.#ipDone |= 1 << w;
      const r = this.#svc.rangesAt(this.#now);
      if (this.#current) this.#slots.sum(this.#slot, r[2 * w] as number, r[2 * w + 1] as number, out);
      else out.requests = out.failures = out.successes = out.auth_failures = 0;
    }
    return out;
  }

  service(w: WindowId): Counts {
    const out = (this.#total[w] ??= emptyCounts());
    if (!(this.#svcDone & (1 << w))) {
      this.#svcDone |= 1 << w;
      const r = this.#svc.rangesAt(this.#now);
      sumSeries(this.#svc.totals, r[2 * w] as number, r[2 * w + 1] as number, out);
    }
    return out;
  }
}

/** The run starts of one entity, by rule type (snapshots keep only runs in progress). */
export function runsOf<E>(e: E, runs: readonly Map<E, Run>[], rules: readonly { type: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  rules.forEach((rule, i) => {
    const run = runs[i]?.get(e);
    if (run !== undefined && run >= 0) out[rule.type] = run;
  });
  return out;
}
