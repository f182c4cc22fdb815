// In-memory window state: one recency order of all IP and credential keys
// (recency.ts; bounded by SIEM_MAX_KEYS, least recently seen evicted first),
// IP keys indexed by their LRU key (ipv4.ts), credentials per service,
// per-service totals, and
// per-service, per-rule candidates (service.ts). The rules and their
// candidacy/`since` steps are the registry's (aggregator/rules); this file
// only stores counts and calls them.
import type { TopList } from '../../../common/record';
import { classify } from '../../../common/record';
import type { DetectionSettings } from '../../../common/settings';
import type { Clock } from '../../clock';
import type { Finding } from '../../rules/registry';
import { addCountsToSeries, addToSeries, pruneHistogram, pruneSeries, STRIDE } from '../../window';
import { oldestKey, WINDOW } from '../layout';
import { insertKey } from '../level-grid';
import type {
  ApplyResult,
  FindingFilter,
  GaugeSnapshot,
  KeyedRecord,
  OnReject,
  SiemState,
  SnapshotAside,
  SnapshotEntry,
  SnapshotExport,
  SnapshotRuns,
  SnapshotService,
  Snapshotting,
  StateOptions,
} from '../state';
import { IpSlots } from './ip-slots';
import { CredentialIps } from './credential-ips';
import { PairPool } from './pair-pool';
import { clearIps, newCredentialEntry, seeIp, stepCredentialRules } from './credential-entry';
import { BYTES_PER_KEY, IP_KEY_BYTES, stringBytes } from './key-budget';
import { ipKeyOfLruKey, ipv4Number, lruKeyOf } from './ipv4';
import { IpIndex } from './ipv4-index';
import { BatchAdmit } from './batch-admit';
import { Recency } from './recency';
import { sweepService } from './sweep';
import { findingsOf, serviceGauges, topOf, windowStart } from './queries';
import { restoreIpRules, stepIpRules } from './ip-rules';
import { ServiceState, SlotCounts, type CredentialEntry, type Slot } from './service';
import { ServiceTable } from './service-table';
import { MemoryExport } from './snapshot-export';

export type MemoryStateOptions = StateOptions;

/** live keys looked at per sweep past the first: arrival order is only nearly ts order */
const EXPIRY_SCAN_LIVE = 10_000;
/** keys expired per sweep, so one sweep never stalls ingest for long */
const EXPIRE_PER_SWEEP = 50_000;

type Entry = Slot | CredentialEntry;

/** The accounted weight of an IP key (key-budget.ts): numeric LRU keys are IPv4, string ones carry the IP key. */
const ipKeyBytes = (key: number | string) => IP_KEY_BYTES + (typeof key === 'string' ? stringBytes(key) : 0);

export class MemoryState implements SiemState, Snapshotting {
  readonly #clock: Clock;
  readonly #maxFindings: number;
  readonly #credentialMaxIps: number;
  /** the services with a place, their generations, and settings kept aside */
  readonly #table: ServiceTable;
  readonly #services: Map<string, ServiceState>;
  readonly #gens: readonly (ServiceState | undefined)[];
  /** every key, least recently seen first: an IP key's slot or a credential entry */
  readonly #keys: Recency<Entry>;
  /** IP keys -> their node in #keys */
  readonly #ipNodes = new IpIndex();
  readonly #slots: IpSlots;
  /** every credential's IP pairs */
  readonly #pairs = new PairPool();
  /** the credential keys, for snapshots (the LRU is not walked: see snapshot-export.ts) */
  readonly #credentials = new Set<CredentialEntry>();
  /** counts of one slot at one clock, reused: ingest is synchronous */
  readonly #cx: SlotCounts;
  /** a credential's counts, reused likewise */
  readonly #cc: { ips: ReadonlyMap<string, number>; now: number } = { ips: new Map(), now: 0 };
  /** a second one for callbacks that run while #cx is in use (top admission) */
  readonly #cx2: SlotCounts;
  #trackedIps = 0;
  /** which records of a batch are taken, at which clock */
  readonly #admit: BatchAdmit;
  /** SIEM_MAX_KEYS as bytes (key-budget.ts), and the weight of the keys held outside spilled histories */
  readonly #budget: number;
  #keyBytes = 0;
  onEvict?: (table: 'ip' | 'credential') => void;
  readonly snapshots: Snapshotting = this;
  readonly #ipOf = (slot: Slot): string => ipKeyOfLruKey(this.#slots.key(slot));

  constructor(o: MemoryStateOptions) {
    this.#clock = o.clock;
    this.#maxFindings = o.maxFindings;
    this.#credentialMaxIps = o.credentialMaxIps;
    this.onEvict = o.onEvict;
    // one slot more than keys: a new key's slot is taken before the LRU evicts for it
    this.#slots = new IpSlots(o.maxKeys + 1);
    this.#table = new ServiceTable(o, this.#slots);
    this.#services = this.#table.services;
    this.#gens = this.#table.gens;
    this.#admit = new BatchAdmit(this.#table, o.clock);
    this.#cx = new SlotCounts(this.#slots);
    this.#cx2 = new SlotCounts(this.#slots);
    // StateOptions.memoryEviction count-after-batch: no byte budget, the count cut after each batch (trim)
    const bytes = o.memoryEviction !== 'count-after-batch';
    this.#budget = bytes ? BYTES_PER_KEY * o.maxKeys : Number.POSITIVE_INFINITY;
    this.#keys = new Recency<Entry>(o.maxKeys, (entry) => this.#forget(entry, true), bytes);
  }

  get trackedKeys(): number {
    return this.#keys.size;
  }
  get trackedIps(): number {
    return this.#trackedIps;
  }
  /** the keys' accounted weight (key-budget.ts): never over budgetBytes after a record */
  get accountedBytes(): number {
    return this.#keyBytes + this.#slots.spillBytes;
  }
  get budgetBytes(): number {
    return this.#budget;
  }

  /** Evict the least recently seen keys while over the byte budget; the key just touched goes last. */
  #fit(): void {
    while (this.#keyBytes + this.#slots.spillBytes > this.#budget && this.#keys.size > 1) this.#keys.evictOldest();
  }

  /** bytes of per-IP-key state held outside the JS heap (typed arrays), for measurements */
  get arrayBytes(): number {
    return this.#slots.arrayBytes;
  }

  /** The settings in force for `service`, or those it would start with. */
  settingsOf(service: string): DetectionSettings {
    return this.#table.settingsOf(service);
  }

  async settingsInForce(): Promise<Record<string, DetectionSettings>> {
    return this.#table.settingsInForce();
  }

  async applySettings(settings: Record<string, unknown>): Promise<string[]> {
    return this.#table.applySettings(settings);
  }

  async apply(records: readonly KeyedRecord[], _batch?: string, onReject?: OnReject): Promise<ApplyResult> {
    let accepted = 0;
    const admit = this.#admit;
    admit.begin();
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as KeyedRecord;
      const svc = admit.admit(r, i, onReject);
      if (!svc) continue;
      const now = admit.now;
      // A sender's clock ahead of ours: count the record now, not in the future.
      const ts = r.ts > now ? now : r.ts;
      if (ts > svc.lastTs) svc.lastTs = ts;
      // the IP key's address, once for both its index and the credential's pairs
      const v4 = ipv4Number(r.ipKey);
      this.#applyIp(svc, r, v4, ts, now);
      if (r.credential) this.#applyCredential(svc, r.credential, v4, r.ipKey, ts, now);
      this.#fit();
      accepted++;
    }
    this.#keys.trim();
    return { accepted, rejected: admit.rejected() };
  }

  #svcOf(slot: Slot): ServiceState {
    return this.#gens[this.#slots.gen(slot)] as ServiceState;
  }

  /** Window counts of a top candidate at clock #countAt (for TopCandidates' pruning): made once, not per record. */
  #countAt = 0;
  readonly #requestsNow = (e: Slot): number => this.#windowNow(e).requests;
  readonly #failuresNow = (e: Slot): number => this.#windowNow(e).failures;
  #windowNow(e: Slot) {
    const svc = this.#svcOf(e);
    return this.#cx2.at(svc, e, this.#countAt).ip(WINDOW.window);
  }

  #applyIp(svc: ServiceState, r: KeyedRecord, v4: number, ts: number, now: number): void {
    const slots = this.#slots;
    const L = svc.layout;
    const node = this.#ipNodes.find(svc.id, r.ipKey, v4);
    let e: Slot;
    // merged to the clock before anything is added: a late record's coarser key never lands among entries still due to merge
    svc.merge(now);
    if (node < 0) e = this.#newIp(svc, r.ipKey, ts);
    else {
      e = this.#keys.touch(node) as Slot;
      if (slots.gen(e) !== svc.gen || slots.lastTs(e) <= now - L.longestMs) {
        // expired (or a slot of another service): start over
        if (slots.gen(e) === svc.gen) svc.unseen(slots.lastTs(e), now);
        slots.setGen(e, svc.gen);
        slots.reset(e);
        slots.setLastTs(e, ts);
        for (const runs of svc.ipRuns) runs.delete(e);
      } else svc.unseen(slots.lastTs(e), now);
    }
    if (ts > slots.lastTs(e)) slots.setLastTs(e, ts);
    svc.seen(slots.lastTs(e), now);

    const k = classify(r.status, r.outcome);
    // one grid whatever the settings (level-grid.ts): the record's key by its age
    const at = insertKey(ts, now, svc.finest);
    const oldest = svc.oldestAt(now);
    slots.merge(e, now);
    slots.add(e, at, k);
    slots.prune(e, oldest);
    addToSeries(svc.totals, at, k);
    pruneSeries(svc.totals, oldest);
    pruneHistogram(svc.lastSeenHist, oldest);

    const cx = this.#cx.at(svc, e, now);
    const w = cx.ip(WINDOW.window);
    const from = windowStart(svc, now);
    this.#countAt = now;
    svc.topRequests.admit(e, w.requests, from, this.#requestsNow);
    if (k.failure) svc.topErrors.admit(e, w.failures, from, this.#failuresNow);

    // the run starts when the record was counted: a sender's clock ahead gives no `since` in the future
    stepIpRules(svc, e, cx, k, ts);
  }

  #applyCredential(svc: ServiceState, credential: string, v4: number, ipKey: string, ts: number, now: number): void {
    let e = svc.credentials.get(credential);
    if (e === undefined) {
      e = newCredentialEntry(svc, credential, ts, new CredentialIps(this.#pairs));
      this.#addCredential(e);
    } else {
      this.#keys.touch(e.node);
      if (e.lastTs <= now - svc.layout.longestMs) {
        this.#keyBytes += clearIps(e);
        for (const runs of svc.credentialRuns) runs.delete(e);
        e.inRuns = 0;
      }
    }
    e.lastTs = Math.max(e.lastTs, ts);
    this.#keyBytes += seeIp(e, v4, ipKey, ts, this.#ipCap(svc));
    this.#stepCredential(svc, e, now, ts);
  }

  /** A new IP key of `svc`, the newest, under its LRU key (ipv4.ts). */
  #newIp(svc: ServiceState, ipKey: string, lastTs: number): Slot {
    const key = lruKeyOf(svc.id, ipKey);
    const e = this.#slots.alloc(key, svc.gen, lastTs);
    this.#ipNodes.set(key, this.#keys.add(e));
    this.#keyBytes += ipKeyBytes(key);
    this.#trackedIps++;
    svc.ipKeys++;
    return e;
  }

  /** A new credential key, the newest. */
  #addCredential(e: CredentialEntry): void {
    e.node = this.#keys.add(e);
    e.svc.credentials.set(e.key, e);
    this.#credentials.add(e);
    e.svc.credentialKeys++;
    this.#keyBytes += e.bytes;
  }

  /** Every credential rule over `e` at clock `now`, after a record at `ts` (undefined: a clock tick). */
  #stepCredential(svc: ServiceState, e: CredentialEntry, now: number, ts?: number, saved?: SnapshotRuns): void {
    stepCredentialRules(svc, e, this.#cc, now, this.#ipCap(svc), ts, saved);
  }

  /** the IPs a credential of `svc` keeps */
  #ipCap(svc: ServiceState): number {
    return Math.max(this.#credentialMaxIps, svc.settings.credential_min_ips);
  }

  /** A key has left #keys, by eviction or expiry: forget the rest of it. */
  #forget(e: Entry, evicted: boolean): void {
    if (typeof e === 'number') {
      this.#ipNodes.delete(this.#slots.key(e));
      const svc = this.#svcOf(e);
      this.#trackedIps--;
      svc.ipKeys--;
      if (this.#slots.gen(e) === svc.gen) svc.unseen(this.#slots.lastTs(e), this.#clock.now());
      for (const runs of svc.ipRuns) runs.delete(e);
      svc.topRequests.set.delete(e);
      svc.topErrors.set.delete(e);
      this.#keyBytes -= ipKeyBytes(this.#slots.key(e));
      this.#slots.free(e);
      if (evicted) this.onEvict?.('ip');
    } else {
      e.svc.credentialKeys--;
      this.#keyBytes -= e.bytes;
      e.svc.credentials.delete(e.key);
      for (const runs of e.svc.credentialRuns) runs.delete(e);
      e.inRuns = 0;
      this.#credentials.delete(e);
      e.gone = true;
      e.ips.dispose();
      if (evicted) this.onEvict?.('credential');
    }
  }

  // --- snapshots (SIEM_STATE_FILE, see aggregator/state-file.ts)

  /** Keys least recently seen first (restoring in this order keeps the eviction order), in steps. */
  beginExport(now: number): SnapshotExport {
    return new MemoryExport(
      {
        slots: this.#slots,
        services: this.#services.values(),
        gens: this.#gens,
        credentials: this.#credentials,
        aside: this.#table.asideEntries(),
      },
      now,
    );
  }

  importServices(services: readonly SnapshotService[]): void {
    for (const s of services) this.#table.take(s.name, s);
  }

  importAside(aside: readonly SnapshotAside[]): void {
    for (const [name, s] of aside) this.#table.restoreAside(name, s);
  }

  /**
   * Restore one key from a snapshot and re-derive what the snapshot does not
   * hold (totals, candidates: each rule stepped at the clock, keeping the
   * saved run starts). Expired keys and keys of unknown services are
   * skipped; IP series come on the grid's keys (state-file.ts converts older
   * files).
   * Returns whether the key was restored.
   */
  importEntry(t: SnapshotEntry): boolean {
    const svc = this.#services.get(t[1]);
    const now = this.#clock.now();
    if (!svc || t[3] <= now - svc.layout.longestMs) return false;
    if (t[3] > svc.lastTs) svc.lastTs = t[3];
    if (t[0] === 'ip') {
      if (this.#ipNodes.get(svc.id, t[2]) >= 0) return false;
      const e = this.#newIp(svc, t[2], t[3]);
      this.#slots.setSeries(e, t[4]);
      this.#slots.merge(e, now);
      this.#slots.prune(e, oldestKey(svc.layout, now));
      svc.merge(now);
      svc.seen(t[3], now);
      const series = this.#slots.series(e);
      for (let i = 0; i < series.length; i += STRIDE) {
        const [b, req, fail, succ, auth] = series.slice(i, i + STRIDE) as [number, number, number, number, number];
        addCountsToSeries(svc.totals, b, req, fail, succ, auth);
      }
      const cx = this.#cx.at(svc, e, now);
      const w = cx.ip(WINDOW.window);
      this.#countAt = now;
      svc.topRequests.admit(e, w.requests, windowStart(svc, now), this.#requestsNow);
      svc.topErrors.admit(e, w.failures, windowStart(svc, now), this.#failuresNow);
      restoreIpRules(svc, e, cx, t[5]);
    } else {
      if (svc.credentials.has(t[2])) return false;
      const e = newCredentialEntry(svc, t[2], t[3], new CredentialIps(this.#pairs, t[4]));
      this.#addCredential(e);
      this.#stepCredential(svc, e, now, undefined, t[5]);
    }
    this.#fit();
    this.#keys.trim();
    return true;
  }

  async sweep(): Promise<void> {
    const now = this.#clock.now();
    const slots = this.#slots;
    // Expiry: least recently seen first. Records arrive nearly in ts order,
    // so expired keys gather at the LRU's tail; look a bounded way past it.
    const stale = (e: Entry) =>
      typeof e === 'number' ? slots.lastTs(e) <= now - this.#svcOf(e).layout.longestMs : e.lastTs <= now - e.svc.layout.longestMs;
    for (const e of this.#keys.removeOldest(stale, EXPIRE_PER_SWEEP, EXPIRY_SCAN_LIVE)) this.#forget(e, false);
    if (this.#pairs.wasteful) {
      this.#pairs.beginCompaction();
      for (const e of this.#credentials) e.ips.relocate();
      this.#pairs.endCompaction();
    }

    for (const svc of this.#services.values()) {
      if (this.#table.release(svc, now)) continue;
      sweepService(svc, this.#cx, now, (e) => this.#stepCredential(svc, e, now));
    }
  }

  async findings(filter: FindingFilter = {}): Promise<Finding[]> {
    return findingsOf(this.#services.values(), this.#cx, this.#ipOf, this.#clock.now(), filter, this.#maxFindings);
  }

  async top(service: string, by: 'requests' | 'errors', n?: number): Promise<TopList> {
    return this.#top(service, by, n);
  }

  #top(service: string, by: 'requests' | 'errors', n?: number): TopList {
    const svc = this.#services.get(service);
    return topOf(
      svc,
      service,
      by,
      n ?? this.settingsOf(service).top_n,
      this.#clock.now(),
      this.#cx,
      this.#ipOf,
      this.settingsOf(service).window_seconds,
    );
  }

  async gauges(): Promise<GaugeSnapshot> {
    const now = this.#clock.now();
    const services = [...this.#services.values()].map((svc) => serviceGauges(svc, now, (by) => this.#top(svc.name, by)));
    const findings = findingsOf(this.#services.values(), this.#cx, this.#ipOf, now, {}, this.#maxFindings);
    return { services, findings, trackedIps: this.#trackedIps, trackedKeys: this.#keys.size };
  }
}
