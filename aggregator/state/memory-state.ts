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
  credentialIpsCandidate,
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
import { IpSlots } from './ip-slots';
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
/** sub-buckets per shortest window (docs/api.md, "Definitions": at least 10) */
const SUB_BUCKETS = 20;
/** live keys looked at per sweep past the first: arrival order is only nearly ts order */
const EXPIRY_SCAN_LIVE = 10_000;
/** IP keys listed in a finding's `ips` (docs/api.md) */
const FINDING_IPS_MAX = 20;
/** keys expired per sweep, so one sweep never stalls ingest for long */
const EXPIRE_PER_SWEEP = 50_000;

/** IP keys are slots of IpSlots; the LRU holds the slot number. */
type Slot = number;

interface CredentialEntry {
  readonly kind: 'credential';
  readonly svc: ServiceState;
  readonly key: string;
  lastTs: number;
  /** IP key -> newest ts, in order of last use (oldest first) */
  ips: Map<string, number>;
  since: number;
}

type Entry = Slot | CredentialEntry;

/** IPv4 keys are numbers in the LRU (service id * 2^32 + address): no string built or hashed per record. */
const IPV4_SPAN = 2 ** 32;
/** service ids from here on use string keys (id * 2^32 must stay a safe integer) */
const NUMERIC_SERVICES = 2 ** 20;

/** The address of a dotted-quad IPv4 key in canonical form (as ip-key.ts gives it), else -1. */
function ipv4Number(ip: string): number {
  const len = ip.length;
  if (len < 7 || len > 15) return -1;
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < len; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      n = n * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // a leading zero: not canonical
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else return -1;
  }
  if (digits === 0 || dots !== 3) return -1;
  return n * 256 + octet;
}

function ipv4Text(n: number): string {
  return `${Math.floor(n / 16777216)}.${Math.floor(n / 65536) & 255}.${Math.floor(n / 256) & 255}.${n & 255}`;
}

/**
 * Heavy hitters of one service by one count, kept incrementally: an IP is
 * admitted when the set has room or its count beats the best count dropped at
 * the last prune; a full set is pruned to its better half. Scrapes read this
 * set, not all keys.
 */
class TopCandidates {
  readonly set = new Set<Slot>();
  #threshold = 0;
  constructor(readonly cap: number) {}

  admit(e: Slot, count: number, countOf: (e: Slot) => number): void {
    if (this.set.has(e) || count <= 0) return;
    if (this.set.size < this.cap || count > this.#threshold) {
      this.set.add(e);
      if (this.set.size > this.cap) this.#prune(countOf);
    }
  }

  #prune(countOf: (e: Slot) => number): void {
    const ranked = [...this.set].map((e) => [e, countOf(e)] as const).sort((a, b) => b[1] - a[1]);
    const keep = this.cap >> 1;
    this.#threshold = ranked[keep]?.[1] ?? 0;
    for (let i = keep; i < ranked.length; i++) this.set.delete((ranked[i] as readonly [Slot, number])[0]);
  }

  /**
   * The best `n` (count > 0) at the current clock, by count then IP key.
   * A bounded insertion keeps scrapes from allocating and sorting every
   * candidate of every service: only the n listed ones.
   */
  ranked(countOf: (e: Slot) => number, ipOf: (e: Slot) => string, n: number): TopItem[] {
    const items: TopItem[] = [];
    n = Math.trunc(n); // as slice(0, n) would
    if (!(n > 0)) return items;
    for (const e of this.set) {
      const count = countOf(e);
      if (count <= 0) continue;
      let i = items.length;
      let ip: string | undefined; // built only when needed: a tie, or listed
      // walk up past the listed items this one beats (IP keys are unique: a total order)
      while (i > 0) {
        const prev = items[i - 1] as TopItem;
        if (prev.count > count || (prev.count === count && prev.ip < (ip ??= ipOf(e)))) break;
        i--;
      }
      if (i >= n) continue;
      items.splice(i, 0, { ip: ip ?? ipOf(e), count });
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
  /**
   * Generation of this service's IP histories (an index into the shared
   * registry): a new one when bucketMs changes, older histories are then
   * discarded. A slot's generation also names its service.
   */
  gen = -1;
  kWindow = 1;
  kSpike = 1;
  kBaseline = 1;
  /** service-wide [bucket, requests, failures, successes] */
  totals: number[] = [];
  /** [bucket, IP keys whose newest record is in that bucket] */
  lastSeenHist: number[] = [];
  ipKeys = 0;
  readonly errorCandidates = new Set<Slot>();
  readonly spikeCandidates = new Set<Slot>();
  readonly credentialCandidates = new Set<CredentialEntry>();
  topRequests!: TopCandidates;
  topErrors!: TopCandidates;

  constructor(
    readonly name: string,
    readonly id: number,
    settings: DetectionSettings,
    /** generation -> service, shared by all services */
    readonly gens: ServiceState[],
  ) {
    this.configure(settings);
  }

  configure(s: DetectionSettings): void {
    const bucketMs = Math.max(1, Math.floor((1000 * Math.min(s.window_seconds, s.spike_window_seconds, s.spike_baseline_seconds)) / SUB_BUCKETS));
    if (bucketMs !== this.bucketMs) {
      this.gen = this.gens.push(this) - 1;
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
  /** generation -> service (see ServiceState.gen) */
  readonly #gens: ServiceState[] = [];
  readonly #keys: LRUCache<number | string, Entry>;
  readonly #slots: IpSlots;
  #trackedIps = 0;
  onEvict?: (table: 'ip' | 'credential') => void;
  // scratch sums, reused: ingest is synchronous
  readonly #w = emptyCounts();
  readonly #s = emptyCounts();
  readonly #b = emptyCounts();
  readonly #ipOf = (slot: Slot): string => this.#ipKeyOf(slot);

  constructor(o: MemoryStateOptions) {
    this.#clock = o.clock;
    this.#defaults = o.defaults;
    this.#maxServices = o.maxServices;
    this.#maxFindings = o.maxFindings;
    this.#credentialMaxIps = o.credentialMaxIps;
    this.onEvict = o.onEvict;
    // one slot more than keys: a new key's slot is taken before the LRU evicts for it
    this.#slots = new IpSlots(o.maxKeys + 1);
    this.#keys = new LRUCache<number | string, Entry>({
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
  /** bytes of per-IP-key state held outside the JS heap (typed arrays), for measurements */
  get arrayBytes(): number {
    return this.#slots.arrayBytes;
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
      svc = new ServiceState(name, this.#services.size, settings ?? this.#defaults, this.#gens);
      this.#services.set(name, svc);
    }
    return svc;
  }

  /** The LRU key of an IP key of `svc`. */
  #lruKey(svc: ServiceState, ipKey: string): number | string {
    if (svc.id < NUMERIC_SERVICES) {
      const n = ipv4Number(ipKey);
      if (n >= 0) return svc.id * IPV4_SPAN + n;
    }
    return `${svc.id}|${ipKey}`;
  }

  /** The IP key of a slot, as it came in. */
  #ipKeyOf(slot: Slot): string {
    const k = this.#slots.key(slot);
    return typeof k === 'number' ? ipv4Text(k % IPV4_SPAN) : k.slice(k.indexOf('|') + 1);
  }

  #svcOf(slot: Slot): ServiceState {
    return this.#gens[this.#slots.gen(slot)] as ServiceState;
  }

  #applyIp(svc: ServiceState, r: KeyedRecord, ts: number, now: number): void {
    const slots = this.#slots;
    const key = this.#lruKey(svc, r.ipKey);
    let e = this.#keys.get(key) as Slot | undefined;
    const nowBucket = bucketOf(now, svc.bucketMs);
    if (e === undefined) {
      e = slots.alloc(key, svc.gen, ts);
      this.#keys.set(key, e);
      this.#trackedIps++;
      svc.ipKeys++;
    } else if (slots.gen(e) !== svc.gen || slots.lastTs(e) <= now - svc.longestMs) {
      // expired (or bucketed under older settings): start over
      if (slots.gen(e) === svc.gen) addToHistogram(svc.lastSeenHist, bucketOf(slots.lastTs(e), svc.bucketMs), -1);
      slots.setGen(e, svc.gen);
      slots.reset(e);
      slots.setLastTs(e, ts);
    } else {
      addToHistogram(svc.lastSeenHist, bucketOf(slots.lastTs(e), svc.bucketMs), -1);
    }
    if (ts > slots.lastTs(e)) slots.setLastTs(e, ts);
    addToHistogram(svc.lastSeenHist, bucketOf(slots.lastTs(e), svc.bucketMs), 1);

    const failure = isFailure(r.status);
    const success = isSuccess(r.status);
    const bucket = bucketOf(ts, svc.bucketMs);
    slots.add(e, bucket, failure, success);
    slots.prune(e, nowBucket - svc.spanBuckets + 1);
    addToSeries(svc.totals, bucket, failure, success);
    pruneSeries(svc.totals, nowBucket - svc.spanBuckets + 1);
    pruneHistogram(svc.lastSeenHist, nowBucket - svc.spanBuckets + 1);

    const s = svc.settings;
    const w = slots.sum(e, nowBucket - svc.kWindow, nowBucket, this.#w);
    svc.topRequests.admit(e, w.requests, (x) => this.#windowCounts(x, now).requests);
    if (failure) svc.topErrors.admit(e, w.failures, (x) => this.#windowCounts(x, now).failures);

    if (failure || svc.errorCandidates.has(e)) {
      if (errorIpCandidate(w, s)) {
        svc.errorCandidates.add(e);
        if (errorIp(w, s)) {
          if (slots.errorSince(e) === NONE) slots.setErrorSince(e, r.ts);
        } else slots.setErrorSince(e, NONE);
      } else {
        svc.errorCandidates.delete(e);
        slots.setErrorSince(e, NONE);
      }
    }
    if (failure || svc.spikeCandidates.has(e)) {
      const [base, spike] = this.#spikeCounts(e, now);
      if (failureSpikeCandidate(spike, s)) {
        svc.spikeCandidates.add(e);
        if (failureSpike(base, spike, s)) {
          if (slots.spikeSince(e) === NONE) slots.setSpikeSince(e, r.ts);
        } else slots.setSpikeSince(e, NONE);
      } else {
        svc.spikeCandidates.delete(e);
        slots.setSpikeSince(e, NONE);
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
    if (prev !== undefined) e.ips.delete(ipKey); // re-insert: Map order is order of last use
    e.ips.set(ipKey, prev !== undefined && prev > ts ? prev : ts);
    const cap = Math.max(this.#credentialMaxIps, svc.settings.credential_min_ips);
    if (e.ips.size > cap) e.ips.delete(e.ips.keys().next().value as string);

    if (credentialIpsCandidate(e.ips, now - svc.settings.credential_window_seconds * 1000, svc.settings)) {
      svc.credentialCandidates.add(e);
      if (e.since === NONE) e.since = ts;
    } else {
      svc.credentialCandidates.delete(e);
      e.since = NONE;
    }
  }

  #windowCounts(e: Slot, now: number, out: Counts = emptyCounts()): Counts {
    const svc = this.#svcOf(e);
    if (this.#slots.gen(e) !== svc.gen) return sumSeries([], 0, 0, out);
    const c = bucketOf(now, svc.bucketMs);
    return this.#slots.sum(e, c - svc.kWindow, c, out);
  }

  /** [baseline (T-S-B, T-S], spike window (T-S, T]] */
  #spikeCounts(e: Slot, now: number): [Counts, Counts] {
    const svc = this.#svcOf(e);
    const c = bucketOf(now, svc.bucketMs);
    const spike = this.#slots.sum(e, c - svc.kSpike, c, this.#s);
    const base = this.#slots.sum(e, c - svc.kSpike - svc.kBaseline, c - svc.kSpike, this.#b);
    return [base, spike];
  }

  /** Called by the LRU when a key leaves, by eviction or expiry. */
  #forget(e: Entry, evicted: boolean): void {
    if (typeof e === 'number') {
      const svc = this.#svcOf(e);
      this.#trackedIps--;
      svc.ipKeys--;
      if (this.#slots.gen(e) === svc.gen) addToHistogram(svc.lastSeenHist, bucketOf(this.#slots.lastTs(e), svc.bucketMs), -1);
      svc.errorCandidates.delete(e);
      svc.spikeCandidates.delete(e);
      svc.topRequests.set.delete(e);
      svc.topErrors.set.delete(e);
      this.#slots.free(e);
      if (evicted) this.onEvict?.('ip');
    } else {
      e.svc.credentialCandidates.delete(e);
      if (evicted) this.onEvict?.('credential');
    }
  }

  /** Services with their settings, for a snapshot. */
  exportServices(): SnapshotService[] {
    return [...this.#services.values()].map((svc) => ({ name: svc.name, settings: { ...svc.settings }, bucketMs: svc.bucketMs }));
  }

  /** Every key, least recently seen first (restoring in this order keeps the LRU order). */
  *exportEntries(): Generator<SnapshotEntry> {
    const slots = this.#slots;
    for (const [, e] of this.#keys.rentries() as Iterable<[number | string, Entry]>) {
      if (typeof e === 'number') {
        yield ['ip', this.#svcOf(e).name, this.#ipKeyOf(e), slots.lastTs(e), slots.series(e).slice(), slots.errorSince(e), slots.spikeSince(e)];
      } else yield ['credential', e.svc.name, e.key, e.lastTs, [...e.ips], e.since];
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
      const key = this.#lruKey(svc, t[2]);
      if (this.#keys.has(key)) return false;
      const slots = this.#slots;
      const e = slots.alloc(key, svc.gen, t[3]);
      slots.setSeries(e, t[4]);
      slots.setErrorSince(e, t[5]);
      slots.setSpikeSince(e, t[6]);
      this.#keys.set(key, e);
      this.#trackedIps++;
      svc.ipKeys++;
      addToHistogram(svc.lastSeenHist, bucketOf(t[3], svc.bucketMs), 1);
      for (let i = 0; i < t[4].length; i += 4) {
        const [b, req, fail, succ] = t[4].slice(i, i + 4) as [number, number, number, number];
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
    const slots = this.#slots;
    // Expiry: least recently seen first. Records arrive nearly in ts order,
    // so expired keys gather at the LRU's tail; look a bounded way past it.
    const expired: (number | string)[] = [];
    let live = 0;
    for (const k of this.#keys.rkeys()) {
      const e = this.#keys.peek(k);
      if (e === undefined || expired.length >= EXPIRE_PER_SWEEP) break;
      const stale = typeof e === 'number' ? slots.lastTs(e) <= now - this.#svcOf(e).longestMs : e.lastTs <= now - e.svc.longestMs;
      if (stale) expired.push(k);
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
        if (!errorIp(w, s)) slots.setErrorSince(e, NONE);
      }
      for (const e of svc.spikeCandidates) {
        const [base, spike] = this.#spikeCounts(e, now);
        if (!failureSpikeCandidate(spike, s)) svc.spikeCandidates.delete(e);
        if (!failureSpike(base, spike, s)) slots.setSpikeSince(e, NONE);
      }
      const credFrom = now - s.credential_window_seconds * 1000;
      for (const e of svc.credentialCandidates) {
        if (!credentialIpsCandidate(e.ips, credFrom, s)) {
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
    const slots = this.#slots;
    const out: Finding[] = [];
    const want = (t: FindingType) => filter.type === undefined || filter.type === t;
    for (const svc of this.#services.values()) {
      if (filter.service !== undefined && filter.service !== svc.name) continue;
      const s = svc.settings;
      if (want('error_ip')) {
        for (const e of svc.errorCandidates) {
          const hit = errorIp(this.#windowCounts(e, now), s);
          if (hit) out.push({ type: 'error_ip', service: svc.name, ip: this.#ipKeyOf(e), count: hit.count, ratio: round(hit.ratio), since: sinceOf(slots.errorSince(e), slots.lastTs(e)) });
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
          if (hit) out.push({ type: 'failure_spike', service: svc.name, ip: this.#ipKeyOf(e), count: hit.count, successes: hit.successes, ratio: round(hit.ratio), since: sinceOf(slots.spikeSince(e), slots.lastTs(e)) });
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
    list.items = cands.ranked((e) => this.#windowCounts(e, now, scratch)[field], this.#ipOf, n ?? s.top_n);
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
