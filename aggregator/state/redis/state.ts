// Shared window state in Redis (SIEM_STATE=redis://...): any number of
// aggregators behind a load balancer hold one state and answer alike.
//
// The layout (state/layout.ts) and the rules (aggregator/rules) are the
// memory backend's, so both backends decide identically. Per batch
// (batch.ts): the records are grouped in memory (each with its grid key, the
// newest ts per credential IP, service totals); one READ script per slot
// group (reads.ts) fetches what a rule replay needs (candidacy, credentials, histories of
// the IP keys a record can wake a rule for); each such entity's records are
// replayed over its state (replay.ts); and every write of the batch (built by
// count-writes.ts) goes out
// as one script per slot group that records the batch id with it
// (writes.ts): a batch counts once or not at all.
// Queries (queries.ts) read candidate sets and top-N sorted sets, never all keys; housekeeping is sweep.ts.
import { randomUUID } from 'node:crypto';
import type { TopList } from '../../../common/record';
import type { DetectionSettings } from '../../../common/settings';
import type { Clock } from '../../clock';
import { errors, isProgrammingError } from '../../errors';
import type { Finding } from '../../rules/registry';
import { WINDOW } from '../layout';
import { LEVEL_MS } from '../level-grid';
import { mergeSettings, sameSettings } from '../settings';
import type { ApplyResult, FindingFilter, GaugeSnapshot, KeyedRecord, OnReject, SiemState, StateHealth, StateOptions } from '../state';
import { preAggregate, type CredBatch, type IpBatch } from './batch';
import { BatchTotals } from './batch-totals';
import { keepAlive, writeCounts } from './count-writes';
import { readBatch } from './reads';
import { healRedirect, type RedisClient } from './client';
import { CLUSTER_GROUPS, Groups, META_TAG, REGISTER, SETTINGS, SETTINGS_SCRIPT_KEYS, UNREGISTER, metaKeys } from './keys';
import { findingsAt, serviceGauges, topAt } from './queries';
import { blindIp, replayCred, replayIp, type CredWrite } from './replay';
import { describe, type Scripts, type Svc } from './service';
import { evict, heldKeys } from './evict';
import { idleServices, sweepService } from './sweep';
import { Writes, defineApply } from './writes';
import { Renewals } from './renewals';
import { WriteProbe } from './probe';

export interface RedisStateOptions extends StateOptions {
  client: RedisClient;
  sweepIntervalMs: number;
  /** every failed operation (for kong_siem_state_errors_total) */
  onError?: (err: unknown) => void;
}

export class RedisState implements SiemState {
  readonly sharedBatchIds = true;
  readonly #r: Scripts;
  readonly #clock: Clock;
  readonly #o: RedisStateOptions;
  readonly #groups: Groups;
  /** services by name, as last read from the shared registry */
  #svcs = new Map<string, Svc>();
  #version: string | null = '';
  #lastError = '';
  #closing = false;
  #sweepRun: Promise<void> | undefined;
  /** keys held at the last count (-1: count after the next batch), and distinct keys this aggregator wrote since */
  #held = -1;
  #writtenSince = 0;
  /** per service and window level: the clock's sub-bucket at its last top refresh (bounded: oldest dropped) */
  readonly #topRefreshed = new Map<string, number>();
  readonly #renewals = new Renewals(); // the IP history hashes this aggregator renewed, and when
  onEvict?: (table: 'ip' | 'credential') => void;

  constructor(o: RedisStateOptions) {
    // every failure is counted, and a stale Cluster slot map refreshed (client.ts)
    this.#o = { ...o, onError: (err) => (healRedirect(o.client, err), o.onError?.(err)) };
    this.#clock = o.clock;
    this.#groups = new Groups(o.client.isCluster ? CLUSTER_GROUPS : 1);
    this.onEvict = o.onEvict;
    const r = o.client;
    defineApply(r);
    const k = SETTINGS_SCRIPT_KEYS().length;
    r.defineCommand('siemRegister', { numberOfKeys: k + 1, lua: REGISTER });
    r.defineCommand('siemUnregister', { numberOfKeys: k, lua: UNREGISTER });
    r.defineCommand('siemSettings', { numberOfKeys: k, lua: SETTINGS });
    r.on('error', (err: Error) => {
      this.#lastError = err.message;
    });
    r.on('ready', () => {
      this.#lastError = '';
      this.#version = ''; // another aggregator may have changed settings meanwhile
    });
    this.#r = r as Scripts;
    this.#probe = new WriteProbe(r);
  }

  health(): StateHealth {
    const status = this.#r.status;
    if (status === 'ready') return { ok: true };
    return { ok: false, reason: `redis ${status}${this.#lastError ? `: ${this.#lastError}` : ''}` };
  }

  readonly #probe: WriteProbe;
  probe(): Promise<StateHealth> {
    return this.#probe.check(this.health());
  }

  async close(): Promise<void> {
    // a sweep in flight finishes first: its commands would reject after the app is gone
    this.#closing = true;
    await this.#sweepRun?.catch(() => {});
    this.#r.disconnect();
  }

  settingsOf(service: string): DetectionSettings {
    return this.#svcs.get(service)?.settings ?? this.#initialSettings(service);
  }

  /** Settings a service without a place would start with (batch: those kept aside in Redis, not read here). */
  #initialSettings(name: string): DetectionSettings {
    if (this.#o.settingsSource === 'locked') return this.#o.lockedSettings?.get(name) ?? this.#o.defaults;
    return this.#o.defaults;
  }

  /** Settings of a service without a place: kept aside in Redis (batch), else its initial ones. */
  async #asideOf(name: string): Promise<DetectionSettings> {
    const json = this.#o.settingsSource === 'locked' ? null : await this.#r.hget(metaKeys.aside, name);
    return json ? { ...this.#o.defaults, ...(JSON.parse(json) as Partial<DetectionSettings>) } : this.#initialSettings(name);
  }

  async settingsInForce(): Promise<Record<string, DetectionSettings>> {
    return this.#guard(async () => {
      await this.#refresh();
      const out: Record<string, DetectionSettings> = Object.create(null); // __proto__ may be a service
      for (const [name, s] of this.#o.lockedSettings ?? []) out[name] = s;
      for (const svc of this.#svcs.values()) out[svc.name] = svc.settings;
      return out;
    });
  }

  /** Run one operation; any Redis failure becomes a 503 (counted). */
  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    const h = this.health();
    if (!h.ok) {
      this.#o.onError?.(new Error(h.reason));
      throw errors.stateUnavailable(h.reason ?? 'redis not ready');
    }
    try {
      return await fn();
    } catch (err) {
      if (isProgrammingError(err)) throw err;
      this.#o.onError?.(err);
      throw errors.stateUnavailable((err as Error).message);
    }
  }

  /** Read the settings version and the shared clock; reload settings when they changed. Returns the clock. */
  async #refresh(): Promise<number> {
    const [version, clock] = await this.#r.mget(metaKeys.version, metaKeys.clock);
    if (version !== this.#version) await this.#reload(version ?? null);
    if (this.#clock.mode === 'wall') return this.#clock.now();
    // the shared clock moves this one's too: "future" is judged against both
    this.#clock.observe(Number(clock ?? 0));
    return this.#clock.now();
  }

  async #reload(version: string | null): Promise<void> {
    const [registry, settings] = await Promise.all([this.#r.hgetall(metaKeys.registry), this.#r.hgetall(metaKeys.settings)]);
    const svcs = new Map<string, Svc>();
    for (const [name, id] of Object.entries(registry)) {
      // own fields only: a service may be named `constructor` or `toString`, which a plain
      // object answers from its prototype (one such record 503'd every aggregator for good)
      const json = Object.hasOwn(settings, name) ? settings[name] : undefined;
      // settings saved before a rule was added lack its fields: defaults fill them
      // (bucket_ms: the sub-bucket length stored by builds before the one grid, ignored)
      const { bucket_ms: _, ...saved } =
        json === undefined ? {} : (JSON.parse(json) as Partial<DetectionSettings> & { bucket_ms?: number });
      const s = this.#o.settingsSource === 'locked' ? this.#initialSettings(name) : { ...this.#o.defaults, ...saved };
      const old = this.#svcs.get(name);
      svcs.set(name, old && old.id === Number(id) && sameSettings(old.settings, s) ? old : describe(name, Number(id), s, this.#groups));
    }
    this.#svcs = new Map([...svcs].sort((a, b) => a[1].id - b[1].id));
    this.#version = version;
  }

  /** Services in registration order. */
  #services(): Svc[] {
    return [...this.#svcs.values()];
  }

  /** Register services; settings kept aside for them come into force (logged here, once). */
  async #register(names: string[]): Promise<Map<string, number>> {
    const [ids, moved] = await this.#r.siemRegister(
      ...SETTINGS_SCRIPT_KEYS(),
      metaKeys.nextId,
      this.#o.maxServices,
      this.#clock.now(),
      ...names,
    );
    const out = new Map<string, number>();
    names.forEach((n, i) => out.set(n, Number(ids[i] ?? -1)));
    if (moved.length > 0) {
      await this.#refresh();
      for (const name of moved) {
        const s = this.#svcs.get(name)?.settings;
        if (s && this.#o.settingsSource !== 'locked') this.#o.onSettingsChange?.(name, this.#o.defaults, s);
      }
    }
    return out;
  }

  /**
   * Settings from a batch (SIEM_SETTINGS=batch; locked ignores them). A
   * service in the shared registry takes them now, for every aggregator; one
   * not in it keeps them aside on this aggregator (bounded) until its first
   * record here: settings never take a place in SIEM_MAX_SERVICES.
   */
  async applySettings(settings: Record<string, unknown>): Promise<string[]> {
    const refused: string[] = [];
    if (this.#o.settingsSource === 'locked') return refused;
    const wanted = new Map<string, DetectionSettings>();
    for (const [name, value] of Object.entries(settings)) {
      const merged = mergeSettings(this.#o.defaults, name, value);
      if (merged) wanted.set(name, merged);
      else refused.push(name);
    }
    if (wanted.size === 0) return refused;
    // Compared with the settings as stored now (one read of the version): another
    // aggregator may have changed them since, and the newest batch's settings must win.
    return this.#guard(async () => {
      await this.#refresh();
      const writes: [Svc, DetectionSettings][] = [];
      const aside: string[] = [];
      for (const [name, s] of wanted) {
        const svc = this.#svcs.get(name);
        if (!svc) aside.push(name, sameSettings(s, this.#o.defaults) ? '' : JSON.stringify(s));
        else if (!sameSettings(svc.settings, s)) writes.push([svc, s]);
      }
      await this.#writeSettings(writes);
      if (aside.length > 0) {
        // kept aside in Redis (bounded), for whichever aggregator sees the first record;
        // a name registered since the refresh gets them stored at once
        const inForce = await this.#r.siemSettings(...SETTINGS_SCRIPT_KEYS(), this.#o.maxServices, ...aside);
        if (inForce.some((x) => Number(x) === 1)) await this.#r.incr(metaKeys.version);
      }
      return refused;
    });
  }

  /** Store new settings of registered services (each change logged once, here): their keys stay as they are (one grid). */
  async #writeSettings(changes: readonly [Svc, DetectionSettings][]): Promise<void> {
    if (changes.length === 0) return;
    await Promise.all(
      changes.map(([svc, s]) => {
        this.#svcs.set(svc.name, describe(svc.name, svc.id, s, this.#groups));
        this.#o.onSettingsChange?.(svc.name, svc.settings, s);
        return this.#r.hset(metaKeys.settings, svc.name, JSON.stringify(s));
      }),
    );
    await this.#r.incr(metaKeys.version);
  }

  async apply(records: readonly KeyedRecord[], batch?: string, onReject?: OnReject): Promise<ApplyResult> {
    return this.#guard(() => this.#apply(records, batch ?? randomUUID(), onReject));
  }

  async #apply(records: readonly KeyedRecord[], batch: string, onReject?: OnReject): Promise<ApplyResult> {
    // Round 1: clock, settings, new services.
    const sharedNow = await this.#refresh();
    const unknown = [...new Set(records.map((r) => r.service))].filter((n) => !this.#svcs.has(n));
    if (unknown.length > 0) {
      const ids = await this.#register(unknown);
      for (const [name, id] of ids)
        if (id >= 0 && !this.#svcs.has(name)) this.#svcs.set(name, describe(name, id, this.#initialSettings(name), this.#groups));
    }
    const b = preAggregate(records, this.#svcs, this.#clock, sharedNow, onReject);

    // Round 2: one READ script per slot group: each IP key's candidacy, and for the hot ones (a
    // candidate, or a record can wake a rule: for one with minRequests, when its top score allows)
    // its history and rule state (the others are written blind); each touched credential as it
    // was; every service's totals (trimmed as they are written).
    const reads = await readBatch(this.#r.siemRead.bind(this.#r), b);
    const credList = [...b.creds.values()];
    // the services' totals a rule reads, at each record as on memory: those before the batch plus
    // its records up to that one (batch-totals.ts; made at a service's first hot key)
    const totalsBySvc = new Map<Svc, BatchTotals>();
    const need = new Uint8Array(b.accepted);
    for (const ib of reads.hot.keys()) for (const r of ib.recs) need[r] = 1;
    const totalsOf = (svc: Svc): BatchTotals | undefined => {
      if (!svc.readsTotals) return undefined;
      let t = totalsBySvc.get(svc);
      if (t === undefined)
        totalsBySvc.set(svc, (t = new BatchTotals(reads.totals.get(svc) ?? [], b.recs, b.svcRecs.get(svc) ?? [], svc.ranges, need)));
      return t;
    };

    // Round 3: every write of the batch, one script per slot group.
    const w = new Writes(this.#groups);
    for (const [ib, v] of reads.hot) ib.write = replayIp(w, ib.svc, ib.ip, b.recs, ib.recs, v, ib.cands, totalsOf(ib.svc));
    for (let j = 0; j < reads.blind.length; j++) {
      const ib = reads.blind[j] as IpBatch;
      ib.write = blindIp(ib.svc, b.recs, ib.recs, reads.blindLast[j] as number);
    }
    const credWrites = new Map<CredBatch, CredWrite>();
    for (const cb of credList) {
      const [flatIps, meta] = reads.creds.get(cb) ?? [[], {}];
      credWrites.set(cb, replayCred(w, cb.svc, cb.cred, cb.recs, flatIps, meta, this.#o.credentialMaxIps));
    }
    keepAlive(w, writeCounts(w, b, this.#o.credentialMaxIps, reads.totals, credWrites, this.#renewals));
    const run = await w.run(this.#r.siemApply.bind(this.#r), batch, META_TAG);
    if (run.seen === 0) this.#renewals.renewed(w.renewed, w.renewedTtl, w.wall); // (an earlier try's renewals are not known)
    if (run.seen === run.groups) return { accepted: 0, rejected: {}, duplicate: true };
    await this.#capKeys(b.ips.length + b.creds.size, b.nowEnd);
    const rejected: ApplyResult['rejected'] = {};
    if (b.late) rejected.late = b.late;
    if (b.future) rejected.future = b.future;
    if (b.overServices) rejected.services = b.overServices;
    return { accepted: b.accepted, rejected };
  }

  async findings(filter: FindingFilter = {}): Promise<Finding[]> {
    return this.#guard(async () => {
      // refreshed first: the services may be new to this aggregator
      const now = await this.#refresh();
      return findingsAt(this.#r, this.#services(), now, filter, this.#o.maxFindings);
    });
  }

  async top(service: string, by: 'requests' | 'errors', n?: number): Promise<TopList> {
    return this.#guard(async () => {
      const now = await this.#refresh();
      const svc = this.#svcs.get(service);
      return topAt(this.#r, svc, service, by, n, now, (svc?.settings ?? (await this.#asideOf(service))).window_seconds);
    });
  }

  /** While Redis is down the gauges are empty, not an error: /metrics answers, kong_siem_state_errors_total tells why. */
  async gauges(): Promise<GaugeSnapshot> {
    return this.#gauges().catch((err) => {
      if (isProgrammingError(err)) throw err;
      return { services: [], findings: [], trackedIps: 0, trackedKeys: 0 };
    });
  }

  async #gauges(): Promise<GaugeSnapshot> {
    return this.#guard(async () => {
      const now = await this.#refresh();
      const svcs = this.#services();
      const [rows, findings] = await Promise.all([
        Promise.all(svcs.map((svc) => serviceGauges(this.#r, svc, now))),
        findingsAt(this.#r, svcs, now, {}, this.#o.maxFindings),
      ]);
      let trackedIps = 0;
      let trackedCreds = 0;
      for (const [, i, cr] of rows) {
        trackedIps += i;
        trackedCreds += cr;
      }
      return { services: rows.map(([g]) => g), findings, trackedIps, trackedKeys: trackedIps + trackedCreds };
    });
  }

  /**
   * SIEM_MAX_KEYS after a batch: evict at once what passed the cap, so the
   * keys exceed it only while batches are in flight, not until the next
   * sweep. Counting costs a ZCARD per service and slot group: skipped while
   * the last count plus every key written since stays under half the cap.
   * The batch is stored whatever happens here: a failure is reported, not
   * thrown, and the sweep evicts in any case.
   */
  async #capKeys(written: number, now: number): Promise<void> {
    this.#writtenSince += written;
    if (this.#held >= 0 && this.#held + this.#writtenSince <= this.#o.maxKeys / 2) return;
    try {
      const svcs = this.#services();
      this.#held = await heldKeys(this.#r, svcs);
      this.#writtenSince = 0;
      if (this.#held <= this.#o.maxKeys) return;
      // undefined: another aggregator holds the lock and evicts
      this.#held = (await evict(this.#r, svcs, this.#o.maxKeys, now, this.onEvict)) ?? -1;
    } catch (err) {
      this.#held = -1;
      this.#o.onError?.(err);
    }
  }

  /** Resolves when this sweep (or the one already running) is done; errors are counted, not thrown. */
  sweep(): Promise<void> {
    if (this.#sweepRun) return this.#sweepRun;
    if (this.#closing || this.#r.status !== 'ready') return Promise.resolve();
    this.#sweepRun = this.#sweep()
      .catch((err) => this.#o.onError?.(err))
      .finally(() => {
        this.#sweepRun = undefined;
      });
    return this.#sweepRun;
  }

  /** Housekeeping, by one aggregator per interval (a lock key). */
  async #sweep(): Promise<void> {
    // other aggregators' writes are in no estimate here: count afresh after the next batch
    this.#held = -1;
    const got = await this.#r.set(metaKeys.sweepLock, '1', 'PX', this.#o.sweepIntervalMs, 'NX');
    if (got === null) return;
    const now = await this.#refresh();
    await Promise.all(this.#services().map((svc) => sweepService(this.#r, svc, now, this.#topDue(svc, now))));
    await this.#release(await idleServices(this.#r, this.#services(), now), now);
    await evict(this.#r, this.#services(), this.#o.maxKeys, now, this.onEvict);
  }

  /** Whether a service's top scores are due a refresh: its window moved by a tenth of itself since the last (sweep.ts). */
  #topDue(svc: Svc, now: number): boolean {
    const wl = svc.layout.windows[WINDOW.window] as { level: number; back: number };
    const key = `${svc.id}:${wl.level}`;
    const c = Math.floor(now / (LEVEL_MS[wl.level] as number));
    const last = this.#topRefreshed.get(key);
    if (last !== undefined && c - last < Math.max(1, Math.floor(wl.back / 10)) && c >= last) return false;
    this.#topRefreshed.set(key, c);
    if (this.#topRefreshed.size > 4 * this.#o.maxServices) this.#topRefreshed.delete(this.#topRefreshed.keys().next().value as string);
    return true;
  }

  /**
   * Idle services give their places back (for every aggregator: the version
   * moves). Their settings, other than the defaults, are kept aside here.
   * Their keys are gone already; a new registration of the name gets a new id.
   */
  async #release(idle: readonly Svc[], now: number): Promise<void> {
    if (idle.length === 0) return;
    const keep = (svc: Svc) => (this.#o.settingsSource !== 'locked' && !sameSettings(svc.settings, this.#o.defaults) ? '1' : '0');
    const done = await Promise.all(
      idle.map((svc) =>
        this.#r.siemUnregister(...SETTINGS_SCRIPT_KEYS(), this.#o.maxServices, svc.name, svc.id, keep(svc), now - svc.layout.longestMs),
      ),
    );
    idle.forEach((svc, i) => {
      if (Number(done[i]) === 1) this.#svcs.delete(svc.name);
    });
    await this.#r.incr(metaKeys.version);
  }
}
