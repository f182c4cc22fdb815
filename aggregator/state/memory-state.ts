// In-memory window state: one LRU of all IP and credential keys (bounded by
// SIEM_MAX_KEYS, least recently seen evicted first), per-service totals, and
// per-service candidate sets so that findings, top lists and gauges cost work
// in proportion to the flagged entities, never to all tracked keys.
//
// Candidates: an entity enters a rule's candidate set at one of its records
// when a necessary condition of the rule holds that can only weaken as time
// passes with no new record (enough failures in the window, enough distinct
// IPs). Any entity meeting a rule at query time therefore met the condition at
// its newest record and is in the set; queries evaluate the full rule at the
// current clock. The sweep drops candidates whose condition lapsed.
import { LRUCache } from 'lru-cache';
import Ajv from 'ajv';
import type { Finding, FindingType, TopItem, TopList } from '../../common/record';
import { isFailure, isSuccess } from '../../common/record';
import {
  DEFAULT_SETTINGS,
  longestWindowMs,
  settingsJsonSchema,
  type DetectionSettings,
} from '../../common/settings';
import type { Clock } from '../clock';
import {
  credentialIps,
  distinctIpsSince,
  errorIp,
  errorIpCandidate,
  failureSpike,
  failureSpikeCandidate,
  newestIps,
} from '../detectors';
import {
  addCountsToSeries,
  addToHistogram,
  addToSeries,
  bucketOf,
  bucketsFor,
  emptyCounts,
  pruneHistogram,
  pruneSeries,
  sumHistogram,
  sumSeries,
  type Counts,
} from '../window';
import type {
  ApplyResult,
  FindingFilter,
  GaugeSnapshot,
  KeyedRecord,
  ServiceGauges,
  SiemState,
} from './state';

export interface MemoryStateOptions {
  clock: Clock;
  defaults: DetectionSettings;
  maxKeys: number;
  maxServices: number;
  maxFindings: number;
  credentialMaxIps: number;
  onEvict?: (table: 'ip' | 'credential') => void;
}

/** One key as written to a snapshot (see aggregator/state-file.ts). */
export type SnapshotEntry =
  | ['ip', string, string, number, number[], number, number] // service, ip key, lastTs, series, errorSince, spikeSince
  | ['credential', string, string, number, [string, number][], number]; // service, credential, lastTs, [ip, ts], since

export interface SnapshotService {
  name: string;
  settings: DetectionSettings;
  /** sub-bucket length the IP series were written with */
  bucketMs: number;
}

const NONE = -1;
/** sub-buckets per shortest window (CONTRACT.md asks for at least 10) */
const SUB_BUCKETS = 20;
/** live keys looked at per sweep past the first: arrival order is only nearly ts order */
const EXPIRY_SCAN_LIVE = 10_000;
/** IP keys listed in a finding's `ips` (CONTRACT.md) */
const FINDING_IPS_MAX = 20;
/** keys expired per sweep, so one sweep never stalls ingest for long */
const EXPIRE_PER_SWEEP = 50_000;

interface IpEntry {
  readonly kind: 'ip';
  readonly svc: ServiceState;
  readonly key: string;
  epoch: number;
  lastTs: number;
  /** [bucket, requests, failures, successes] entries, see window.ts */
  series: number[];
  errorSince: number;
  spikeSince: number;
}

interface CredentialEntry {
  readonly kind: 'credential';
  readonly svc: ServiceState;
  readonly key: string;
  lastTs: number;
  /** IP key -> newest ts, in order of last use (oldest first) */
  ips: Map<string, number>;
  since: number;
}

type Entry = IpEntry | CredentialEntry;

/**
 * Heavy hitters of one service by one count, kept incrementally: an IP is
 * admitted when the set has room or its count beats the best count dropped at
 * the last prune; a full set is pruned to its better half. Scrapes read this
 * set, not all keys.
 */
class TopCandidates {
  readonly set = new Set<IpEntry>();
  #threshold = 0;
  constructor(readonly cap: number) {}

  admit(e: IpEntry, count: number, countOf: (e: IpEntry) => number): void {
    if (this.set.has(e) || count <= 0) return;
    if (this.set.size < this.cap || count > this.#threshold) {
      this.set.add(e);
      if (this.set.size > this.cap) this.#prune(countOf);
    }
  }

  #prune(countOf: (e: IpEntry) => number): void {
    const ranked = [...this.set].map((e) => [e, countOf(e)] as const).sort((a, b) => b[1] - a[1]);
    const keep = this.cap >> 1;
    this.#threshold = ranked[keep]?.[1] ?? 0;
    for (let i = keep; i < ranked.length; i++) this.set.delete((ranked[i] as readonly [IpEntry, number])[0]);
  }

  /**
   * The best `n` (count > 0) at the current clock, by count then IP key.
   * A bounded insertion keeps scrapes from allocating and sorting every
   * candidate of every service: only the n listed ones.
   */
  ranked(countOf: (e: IpEntry) => number, n: number): TopItem[] {
    const items: TopItem[] = [];
    n = Math.trunc(n); // as slice(0, n) would
    if (!(n > 0)) return items;
    for (const e of this.set) {
      const count = countOf(e);
      if (count <= 0) continue;
      let i = items.length;
      // walk up past the listed items this one beats (IP keys are unique: a total order)
      while (i > 0) {
        const prev = items[i - 1] as TopItem;
        if (prev.count > count || (prev.count === count && prev.ip < e.key)) break;
        i--;
      }
      if (i >= n) continue;
      items.splice(i, 0, { ip: e.key, count });
      if (items.length > n) items.pop();
    }
    return items;
  }
}

class ServiceState {
  settings!: DetectionSettings;
  /**
   * Sub-bucket length: a twentieth of the shortest IP window. A window then
   * spans between W - W/20 and W, never more: borderline traffic is
   * under-counted rather than decoys over-counted.
   */
  bucketMs = 0;
  longestMs = 0;
  /** bumps when bucketMs changes: older IP histories are then discarded */
  epoch = 0;
  kWindow = 1;
  kSpike = 1;
  kBaseline = 1;
  /** service-wide [bucket, requests, failures, successes] */
  totals: number[] = [];
  /** [bucket, IP keys whose newest record is in that bucket] */
  lastSeenHist: number[] = [];
  ipKeys = 0;
  readonly errorCandidates = new Set<IpEntry>();
  readonly spikeCandidates = new Set<IpEntry>();
  readonly credentialCandidates = new Set<CredentialEntry>();
  topRequests!: TopCandidates;
  topErrors!: TopCandidates;

  constructor(
    readonly name: string,
    readonly id: number,
    settings: DetectionSettings,
  ) {
    this.configure(settings);
  }

  configure(s: DetectionSettings): void {
    const bucketMs = Math.max(1, Math.floor((1000 * Math.min(s.window_seconds, s.spike_window_seconds, s.spike_baseline_seconds)) / SUB_BUCKETS));
    if (bucketMs !== this.bucketMs) {
      this.epoch++;
      this.totals = [];
      this.lastSeenHist = [];
      this.errorCandidates.clear();
      this.spikeCandidates.clear();
      this.topRequests?.set.clear();
      this.topErrors?.set.clear();
    }
    const cap = Math.max(256, 4 * s.top_n);
    if (!this.topRequests || this.topRequests.cap !== cap) {
      const old = [this.topRequests?.set, this.topErrors?.set];
      this.topRequests = new TopCandidates(cap);
      this.topErrors = new TopCandidates(cap);
      for (const e of old[0] ?? []) this.topRequests.set.add(e);
      for (const e of old[1] ?? []) this.topErrors.set.add(e);
    }
    this.settings = s;
    this.bucketMs = bucketMs;
    this.longestMs = longestWindowMs(s);
    this.kWindow = bucketsFor(s.window_seconds * 1000, bucketMs);
    this.kSpike = bucketsFor(s.spike_window_seconds * 1000, bucketMs);
    this.kBaseline = bucketsFor(s.spike_baseline_seconds * 1000, bucketMs);
  }

  /** Buckets an IP history must keep: the longest window's. */
  get spanBuckets(): number {
    return Math.max(this.kWindow, this.kSpike + this.kBaseline);
  }
}

const ajv = new Ajv({ allErrors: false, coerceTypes: false });
const validateSettings = ajv.compile(settingsJsonSchema());

export class MemoryState implements SiemState {
  readonly #clock: Clock;
  readonly #defaults: DetectionSettings;
  readonly #maxServices: number;
  readonly #maxFindings: number;
  readonly #credentialMaxIps: number;
  readonly #services = new Map<string, ServiceState>();
  readonly #keys: LRUCache<string, Entry>;
  #trackedIps = 0;
  onEvict?: (table: 'ip' | 'credential') => void;
  // scratch sums, reused: ingest is synchronous
  readonly #w = emptyCounts();
  readonly #s = emptyCounts();
  readonly #b = emptyCounts();

  constructor(o: MemoryStateOptions) {
    this.#clock = o.clock;
    this.#defaults = o.defaults;
    this.#maxServices = o.maxServices;
    this.#maxFindings = o.maxFindings;
    this.#credentialMaxIps = o.credentialMaxIps;
    this.onEvict = o.onEvict;
    this.#keys = new LRUCache<string, Entry>({
      max: o.maxKeys,
      dispose: (entry, _key, reason) => this.#forget(entry, reason === 'evict'),
    });
  }

  get trackedKeys(): number {
    return this.#keys.size;
  }
  get trackedIps(): number {
    return this.#trackedIps;
  }

  settingsOf(service: string): DetectionSettings {
    return this.#services.get(service)?.settings ?? this.#defaults;
  }

  async applySettings(settings: Record<string, unknown>): Promise<string[]> {
    const refused: string[] = [];
    for (const [name, value] of Object.entries(settings)) {
      if (name.length === 0 || name.length > 256 || !validateSettings(value)) {
        refused.push(name);
        continue;
      }
      const merged: DetectionSettings = { ...this.#defaults };
      for (const k of Object.keys(DEFAULT_SETTINGS) as (keyof DetectionSettings)[]) {
        const v = (value as Record<string, unknown>)[k];
        if (typeof v === 'number') merged[k] = v;
      }
      const svc = this.#service(name, merged);
      if (!svc) {
        refused.push(name);
        continue;
      }
      if (!sameSettings(svc.settings, merged)) svc.configure(merged);
    }
    return refused;
  }

  async apply(records: readonly KeyedRecord[]): Promise<ApplyResult> {
    let accepted = 0;
    let late = 0;
    let overServices = 0;
    for (const r of records) {
      const svc = this.#service(r.service);
      if (!svc) {
        overServices++;
        continue;
      }
      this.#clock.observe(r.ts);
      const now = this.#clock.now();
      if (r.ts <= now - svc.longestMs) {
        late++;
        continue;
      }
      // A sender's clock ahead of ours: count the record now, not in the future.
      const ts = r.ts > now ? now : r.ts;
      this.#applyIp(svc, r, ts, now);
      if (r.credential) this.#applyCredential(svc, r.credential, r.ipKey, ts, now);
      accepted++;
    }
    const rejected: ApplyResult['rejected'] = {};
    if (late) rejected.late = late;
    if (overServices) rejected.services = overServices;
    return { accepted, rejected };
  }

  #service(name: string, settings?: DetectionSettings): ServiceState | undefined {
    let svc = this.#services.get(name);
    if (!svc) {
      if (this.#services.size >= this.#maxServices) return undefined;
      svc = new ServiceState(name, this.#services.size, settings ?? this.#defaults);
      this.#services.set(name, svc);
    }
    return svc;
  }

  #applyIp(svc: ServiceState, r: KeyedRecord, ts: number, now: number): void {
    const key = `${svc.id}|${r.ipKey}`;
    let e = this.#keys.get(key) as IpEntry | undefined;
    const nowBucket = bucketOf(now, svc.bucketMs);
    if (!e) {
      e = { kind: 'ip', svc, key: r.ipKey, epoch: svc.epoch, lastTs: ts, series: [], errorSince: NONE, spikeSince: NONE };
      this.#keys.set(key, e);
      this.#trackedIps++;
      svc.ipKeys++;
    } else if (e.epoch !== svc.epoch || e.lastTs <= now - svc.longestMs) {
      // expired (or bucketed under older settings): start over
      if (e.epoch === svc.epoch) addToHistogram(svc.lastSeenHist, bucketOf(e.lastTs, svc.bucketMs), -1);
      e.epoch = svc.epoch;
      e.series = [];
      e.errorSince = NONE;
      e.spikeSince = NONE;
      e.lastTs = ts;
    } else {
      addToHistogram(svc.lastSeenHist, bucketOf(e.lastTs, svc.bucketMs), -1);
    }
    if (ts > e.lastTs) e.lastTs = ts;
    addToHistogram(svc.lastSeenHist, bucketOf(e.lastTs, svc.bucketMs), 1);

    const failure = isFailure(r.status);
    const success = isSuccess(r.status);
    const bucket = bucketOf(ts, svc.bucketMs);
    addToSeries(e.series, bucket, failure, success);
    pruneSeries(e.series, nowBucket - svc.spanBuckets + 1);
    addToSeries(svc.totals, bucket, failure, success);
    pruneSeries(svc.totals, nowBucket - svc.spanBuckets + 1);
    pruneHistogram(svc.lastSeenHist, nowBucket - svc.spanBuckets + 1);

    const s = svc.settings;
    const w = sumSeries(e.series, nowBucket - svc.kWindow, nowBucket, this.#w);
    svc.topRequests.admit(e, w.requests, (x) => this.#windowCounts(x, now).requests);
    if (failure) svc.topErrors.admit(e, w.failures, (x) => this.#windowCounts(x, now).failures);

    if (failure || svc.errorCandidates.has(e)) {
      if (errorIpCandidate(w, s)) {
        svc.errorCandidates.add(e);
        if (errorIp(w, s)) {
          if (e.errorSince === NONE) e.errorSince = r.ts;
        } else e.errorSince = NONE;
      } else {
        svc.errorCandidates.delete(e);
        e.errorSince = NONE;
      }
    }
    if (failure || svc.spikeCandidates.has(e)) {
      const [base, spike] = this.#spikeCounts(e, now);
      if (failureSpikeCandidate(spike, s)) {
        svc.spikeCandidates.add(e);
        if (failureSpike(base, spike, s)) {
          if (e.spikeSince === NONE) e.spikeSince = r.ts;
        } else e.spikeSince = NONE;
      } else {
        svc.spikeCandidates.delete(e);
        e.spikeSince = NONE;
      }
    }
  }

  #applyCredential(svc: ServiceState, credential: string, ipKey: string, ts: number, now: number): void {
    const key = `${svc.id}#${credential}`;
    let e = this.#keys.get(key) as CredentialEntry | undefined;
    if (!e) {
      e = { kind: 'credential', svc, key: credential, lastTs: ts, ips: new Map(), since: NONE };
      this.#keys.set(key, e);
    } else if (e.lastTs <= now - svc.longestMs) {
      e.ips.clear();
      e.since = NONE;
    }
    e.lastTs = Math.max(e.lastTs, ts);
    const prev = e.ips.get(ipKey);
    e.ips.delete(ipKey); // re-insert: Map order is order of last use
    e.ips.set(ipKey, prev !== undefined && prev > ts ? prev : ts);
    const cap = Math.max(this.#credentialMaxIps, svc.settings.credential_min_ips);
    if (e.ips.size > cap) e.ips.delete(e.ips.keys().next().value as string);

    if (hasIpsSince(e.ips, now - svc.settings.credential_window_seconds * 1000, svc.settings.credential_min_ips)) {
      svc.credentialCandidates.add(e);
      if (e.since === NONE) e.since = ts;
    } else {
      svc.credentialCandidates.delete(e);
      e.since = NONE;
    }
  }

  #windowCounts(e: IpEntry, now: number, out: Counts = emptyCounts()): Counts {
    const svc = e.svc;
    if (e.epoch !== svc.epoch) return sumSeries([], 0, 0, out);
    const c = bucketOf(now, svc.bucketMs);
    return sumSeries(e.series, c - svc.kWindow, c, out);
  }

  /** [baseline (T-S-B, T-S], spike window (T-S, T]] */
  #spikeCounts(e: IpEntry, now: number): [Counts, Counts] {
    const svc = e.svc;
    const c = bucketOf(now, svc.bucketMs);
    const spike = sumSeries(e.series, c - svc.kSpike, c, this.#s);
    const base = sumSeries(e.series, c - svc.kSpike - svc.kBaseline, c - svc.kSpike, this.#b);
    return [base, spike];
  }

  /** Called by the LRU when a key leaves, by eviction or expiry. */
  #forget(e: Entry, evicted: boolean): void {
    const svc = e.svc;
    if (e.kind === 'ip') {
      this.#trackedIps--;
      svc.ipKeys--;
      if (e.epoch === svc.epoch) addToHistogram(svc.lastSeenHist, bucketOf(e.lastTs, svc.bucketMs), -1);
      svc.errorCandidates.delete(e);
      svc.spikeCandidates.delete(e);
      svc.topRequests.set.delete(e);
      svc.topErrors.set.delete(e);
    } else {
      svc.credentialCandidates.delete(e);
    }
    if (evicted) this.onEvict?.(e.kind);
  }

  /** Services with their settings, for a snapshot. */
  exportServices(): SnapshotService[] {
    return [...this.#services.values()].map((svc) => ({ name: svc.name, settings: { ...svc.settings }, bucketMs: svc.bucketMs }));
  }

  /** Every key, least recently seen first (restoring in this order keeps the LRU order). */
  *exportEntries(): Generator<SnapshotEntry> {
    for (const [, e] of this.#keys.rentries() as Iterable<[string, Entry]>) {
      if (e.kind === 'ip') yield ['ip', e.svc.name, e.key, e.lastTs, e.series.slice(), e.errorSince, e.spikeSince];
      else yield ['credential', e.svc.name, e.key, e.lastTs, [...e.ips], e.since];
    }
  }

  importServices(services: readonly SnapshotService[]): void {
    for (const s of services) this.#service(s.name, s.settings);
  }

  /**
   * Restore one key from a snapshot and re-derive what the snapshot does not
   * hold (totals, candidate sets). Expired keys, keys of unknown services and
   * IP series written under another sub-bucket length are skipped.
   * Returns whether the key was restored.
   */
  importEntry(t: SnapshotEntry, bucketMsWritten: (service: string) => number | undefined): boolean {
    const svc = this.#services.get(t[1]);
    const now = this.#clock.now();
    if (!svc || t[3] <= now - svc.longestMs) return false;
    if (t[0] === 'ip') {
      if (bucketMsWritten(svc.name) !== svc.bucketMs) return false;
      const key = `${svc.id}|${t[2]}`;
      if (this.#keys.has(key)) return false;
      const e: IpEntry = { kind: 'ip', svc, key: t[2], epoch: svc.epoch, lastTs: t[3], series: t[4], errorSince: t[5], spikeSince: t[6] };
      this.#keys.set(key, e);
      this.#trackedIps++;
      svc.ipKeys++;
      addToHistogram(svc.lastSeenHist, bucketOf(e.lastTs, svc.bucketMs), 1);
      for (let i = 0; i < e.series.length; i += 4) {
        const [b, req, fail, succ] = e.series.slice(i, i + 4) as [number, number, number, number];
        addCountsToSeries(svc.totals, b, req, fail, succ);
      }
      const w = this.#windowCounts(e, now, this.#w);
      svc.topRequests.admit(e, w.requests, (x) => this.#windowCounts(x, now).requests);
      svc.topErrors.admit(e, w.failures, (x) => this.#windowCounts(x, now).failures);
      if (errorIpCandidate(w, svc.settings)) svc.errorCandidates.add(e);
      if (failureSpikeCandidate(this.#spikeCounts(e, now)[1], svc.settings)) svc.spikeCandidates.add(e);
    } else {
      const key = `${svc.id}#${t[2]}`;
      if (this.#keys.has(key)) return false;
      const e: CredentialEntry = { kind: 'credential', svc, key: t[2], lastTs: t[3], ips: new Map(t[4]), since: t[5] };
      this.#keys.set(key, e);
      const from = now - svc.settings.credential_window_seconds * 1000;
      if (credentialIps(distinctIpsSince(e.ips, from), svc.settings) !== undefined) svc.credentialCandidates.add(e);
    }
    return true;
  }

  sweep(): void {
    const now = this.#clock.now();
    // Expiry: least recently seen first. Records arrive nearly in ts order,
    // so expired keys gather at the LRU's tail; look a bounded way past it.
    const expired: string[] = [];
    let live = 0;
    for (const k of this.#keys.rkeys()) {
      const e = this.#keys.peek(k);
      if (!e || expired.length >= EXPIRE_PER_SWEEP) break;
      if (e.lastTs <= now - e.svc.longestMs) expired.push(k);
      else if (++live > EXPIRY_SCAN_LIVE) break;
    }
    for (const k of expired) this.#keys.delete(k);

    for (const svc of this.#services.values()) {
      const s = svc.settings;
      const nowBucket = bucketOf(now, svc.bucketMs);
      pruneSeries(svc.totals, nowBucket - svc.spanBuckets + 1);
      pruneHistogram(svc.lastSeenHist, nowBucket - svc.spanBuckets + 1);
      for (const e of svc.errorCandidates) {
        const w = this.#windowCounts(e, now, this.#w);
        if (!errorIpCandidate(w, s)) svc.errorCandidates.delete(e);
        if (!errorIp(w, s)) e.errorSince = NONE;
      }
      for (const e of svc.spikeCandidates) {
        const [base, spike] = this.#spikeCounts(e, now);
        if (!failureSpikeCandidate(spike, s)) svc.spikeCandidates.delete(e);
        if (!failureSpike(base, spike, s)) e.spikeSince = NONE;
      }
      const credFrom = now - s.credential_window_seconds * 1000;
      for (const e of svc.credentialCandidates) {
        if (!hasIpsSince(e.ips, credFrom, s.credential_min_ips)) {
          svc.credentialCandidates.delete(e);
          e.since = NONE;
        }
      }
      for (const e of svc.topRequests.set) if (this.#windowCounts(e, now, this.#w).requests === 0) svc.topRequests.set.delete(e);
      for (const e of svc.topErrors.set) if (this.#windowCounts(e, now, this.#w).failures === 0) svc.topErrors.set.delete(e);
    }
  }

  async findings(filter: FindingFilter = {}): Promise<Finding[]> {
    return this.#findings(filter);
  }

  #findings(filter: FindingFilter): Finding[] {
    const now = this.#clock.now();
    const out: Finding[] = [];
    const want = (t: FindingType) => filter.type === undefined || filter.type === t;
    for (const svc of this.#services.values()) {
      if (filter.service !== undefined && filter.service !== svc.name) continue;
      const s = svc.settings;
      if (want('error_ip')) {
        for (const e of svc.errorCandidates) {
          const hit = errorIp(this.#windowCounts(e, now), s);
          if (hit) out.push({ type: 'error_ip', service: svc.name, ip: e.key, count: hit.count, ratio: round(hit.ratio), since: sinceOf(e.errorSince, e.lastTs) });
        }
      }
      if (want('credential_ips')) {
        const from = now - s.credential_window_seconds * 1000;
        for (const e of svc.credentialCandidates) {
          const count = credentialIps(distinctIpsSince(e.ips, from), s);
          if (count !== undefined) {
            out.push({ type: 'credential_ips', service: svc.name, credential: e.key, count, ips: newestIps(e.ips, from, FINDING_IPS_MAX), since: sinceOf(e.since, e.lastTs) });
          }
        }
      }
      if (want('failure_spike')) {
        for (const e of svc.spikeCandidates) {
          const [base, spike] = this.#spikeCounts(e, now);
          const hit = failureSpike(base, spike, s);
          if (hit) out.push({ type: 'failure_spike', service: svc.name, ip: e.key, count: hit.count, successes: hit.successes, ratio: round(hit.ratio), since: sinceOf(e.spikeSince, e.lastTs) });
        }
      }
    }
    // Bounded output (SIEM_MAX_FINDINGS): the strongest first.
    out.sort((a, b) => b.count - a.count);
    return out.length > this.#maxFindings ? out.slice(0, this.#maxFindings) : out;
  }

  async top(service: string, by: 'requests' | 'errors', n?: number): Promise<TopList> {
    return this.#top(service, by, n);
  }

  #top(service: string, by: 'requests' | 'errors', n?: number): TopList {
    const svc = this.#services.get(service);
    const s = svc?.settings ?? this.#defaults;
    const list: TopList = { service, by, window_seconds: s.window_seconds, items: [], other: 0 };
    if (!svc) return list;
    const now = this.#clock.now();
    const field = by === 'requests' ? 'requests' : 'failures';
    const cands = by === 'requests' ? svc.topRequests : svc.topErrors;
    const scratch = this.#w;
    list.items = cands.ranked((e) => this.#windowCounts(e, now, scratch)[field], n ?? s.top_n);
    const c = bucketOf(now, svc.bucketMs);
    const total = sumSeries(svc.totals, c - svc.kWindow, c, emptyCounts())[field];
    let listed = 0;
    for (const it of list.items) listed += it.count;
    list.other = Math.max(0, total - listed);
    return list;
  }

  async gauges(): Promise<GaugeSnapshot> {
    const now = this.#clock.now();
    const services: ServiceGauges[] = [];
    for (const svc of this.#services.values()) {
      const c = bucketOf(now, svc.bucketMs);
      const totals = sumSeries(svc.totals, c - svc.kWindow, c, emptyCounts());
      services.push({
        service: svc.name,
        topRequests: this.#top(svc.name, 'requests'),
        topErrors: this.#top(svc.name, 'errors'),
        uniqueIps: sumHistogram(svc.lastSeenHist, c - svc.kWindow, c),
        windowRequests: totals.requests,
      });
    }
    return { services, findings: this.#findings({}), trackedIps: this.#trackedIps, trackedKeys: this.#keys.size };
  }
}

/**
 * Whether at least `min` IP keys were seen after `fromTs`: the credential rule
 * at ingest, which needs no exact count, so the walk stops at `min`.
 */
function hasIpsSince(lastSeen: ReadonlyMap<string, number>, fromTs: number, min: number): boolean {
  if (min <= 0) return true;
  if (lastSeen.size < min) return false;
  let n = 0;
  for (const ts of lastSeen.values()) if (ts > fromTs && ++n >= min) return true;
  return false;
}

function sinceOf(since: number, lastTs: number): number {
  return since === NONE ? lastTs : since;
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

function sameSettings(a: DetectionSettings, b: DetectionSettings): boolean {
  for (const k of Object.keys(a) as (keyof DetectionSettings)[]) if (a[k] !== b[k]) return false;
  return true;
}
