// Shared window state in Redis (SIEM_STATE=redis://...): any number of
// aggregators behind a load balancer hold one state and answer alike.
//
// The layout (state/layout.ts) and the rules (aggregator/rules) are the
// memory backend's, so both backends decide identically. Per batch:
//   1. one round reads the shared event clock and the settings version (and
//      registers services seen for the first time);
//   2. the batch, pre-aggregated in memory (counts per IP key per sub-bucket,
//      newest ts per credential IP), goes out as one pipelined round: a Lua
//      script per touched credential (one slot each) that adds the IPs and
//      returns it as it was before, the IP keys' counts, and per-service
//      totals; the IP keys a rule may need are read before their writes;
//   3. each such entity's records are replayed in order over its "before"
//      state (replay.ts), and the changes go out as a second pipelined round.
// Queries (queries.ts) read candidate sets and top-N candidate sorted sets,
// never all keys; housekeeping is sweep.ts.
import { isFailure, isSuccess } from '../../../common/record';
import type { TopList } from '../../../common/record';
import type { DetectionSettings } from '../../../common/settings';
import type { Clock } from '../../clock';
import { errors } from '../../errors';
import { IP_RULES, type Finding } from '../../rules/registry';
import { bucketOf } from '../../window';
import { mergeSettings, sameSettings } from '../settings';
import type { ApplyResult, FindingFilter, GaugeSnapshot, KeyedRecord, SiemState, StateHealth } from '../state';
import type { RedisClient } from './client';
import { CLOCK_MAX, CRED_APPLY, REGISTER, credIpsKey, credMetaKey, ipChunkKey, metaKeys } from './keys';
import { findingsAt, serviceGauges, topAt } from './queries';
import { replayCred, replayIp, type CredRec, type IpRec } from './replay';
import { addCounts, describe, readIp, readTotals, type IpView, type Scripts, type Svc } from './service';
import { evict, sweepService } from './sweep';

export interface RedisStateOptions {
  client: RedisClient;
  clock: Clock;
  defaults: DetectionSettings;
  maxKeys: number;
  maxServices: number;
  maxFindings: number;
  credentialMaxIps: number;
  sweepIntervalMs: number;
  onEvict?: (table: 'ip' | 'credential') => void;
  /** every failed operation (for kong_siem_state_errors_total) */
  onError?: (err: unknown) => void;
}

interface IpBatch { svc: Svc; ip: string; buckets: Map<number, [number, number, number]>; last: number; recs: IpRec[]; wakes: boolean }
interface CredBatch { svc: Svc; cred: string; ips: Map<string, number>; last: number; recs: CredRec[] }

export class RedisState implements SiemState {
  readonly #r: Scripts;
  readonly #clock: Clock;
  readonly #o: RedisStateOptions;
  /** services by name, as last read from the shared registry */
  #svcs = new Map<string, Svc>();
  #version: string | null = '';
  #lastError = '';
  #closing = false;
  #sweepRun: Promise<void> | undefined;
  onEvict?: (table: 'ip' | 'credential') => void;

  constructor(o: RedisStateOptions) {
    this.#o = o;
    this.#clock = o.clock;
    this.onEvict = o.onEvict;
    const r = o.client;
    r.defineCommand('siemCredApply', { numberOfKeys: 2, lua: CRED_APPLY });
    r.defineCommand('siemClockMax', { numberOfKeys: 1, lua: CLOCK_MAX });
    r.defineCommand('siemRegister', { numberOfKeys: 2, lua: REGISTER });
    r.on('error', (err: Error) => {
      this.#lastError = err.message;
    });
    r.on('ready', () => {
      this.#lastError = '';
      this.#version = ''; // another aggregator may have changed settings meanwhile
    });
    this.#r = r as Scripts;
  }

  health(): StateHealth {
    const status = this.#r.status;
    if (status === 'ready') return { ok: true };
    return { ok: false, reason: `redis ${status}${this.#lastError ? `: ${this.#lastError}` : ''}` };
  }

  async close(): Promise<void> {
    // Let a sweep in flight finish first: disconnecting under it would leave
    // its commands to reject after the app is gone.
    this.#closing = true;
    await this.#sweepRun?.catch(() => {});
    this.#r.disconnect();
  }

  settingsOf(service: string): DetectionSettings {
    return this.#svcs.get(service)?.settings ?? this.#o.defaults;
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
      if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) throw err;
      this.#o.onError?.(err);
      throw errors.stateUnavailable((err as Error).message);
    }
  }

  /** Read the settings version and the shared clock; reload settings when they changed. Returns the clock. */
  async #refresh(): Promise<number> {
    const [version, clock] = await this.#r.mget(metaKeys.version, metaKeys.clock);
    if (version !== this.#version) await this.#reload(version ?? null);
    if (this.#clock.mode === 'wall') return this.#clock.now();
    return Math.max(Number(clock ?? 0), this.#clock.now());
  }

  async #reload(version: string | null): Promise<void> {
    const [registry, settings] = await Promise.all([this.#r.hgetall(metaKeys.registry), this.#r.hgetall(metaKeys.settings)]);
    const svcs = new Map<string, Svc>();
    for (const [name, id] of Object.entries(registry)) {
      const json = settings[name];
      // settings saved before a rule was added lack its fields: defaults fill them
      const s = json === undefined ? this.#o.defaults : { ...this.#o.defaults, ...(JSON.parse(json) as Partial<DetectionSettings>) };
      const old = this.#svcs.get(name);
      svcs.set(name, old && old.id === Number(id) && sameSettings(old.settings, s) ? old : describe(name, Number(id), s));
    }
    this.#svcs = new Map([...svcs].sort((a, b) => a[1].id - b[1].id));
    this.#version = version;
  }

  /** Services in registration order. */
  #services(): Svc[] {
    return [...this.#svcs.values()];
  }

  async #register(names: string[]): Promise<Map<string, number>> {
    const ids = await this.#r.siemRegister(metaKeys.registry, metaKeys.nextId, this.#o.maxServices, ...names);
    const out = new Map<string, number>();
    names.forEach((n, i) => out.set(n, Number(ids[i] ?? -1)));
    return out;
  }

  async applySettings(settings: Record<string, unknown>): Promise<string[]> {
    const refused: string[] = [];
    const wanted = new Map<string, DetectionSettings>();
    for (const [name, value] of Object.entries(settings)) {
      const merged = mergeSettings(this.#o.defaults, name, value);
      if (!merged) {
        refused.push(name);
        continue;
      }
      const known = this.#svcs.get(name);
      // The common case (every batch carries the settings in force) costs nothing.
      if (known && sameSettings(known.settings, merged)) continue;
      wanted.set(name, merged);
    }
    if (wanted.size === 0) return refused;
    return this.#guard(async () => {
      const ids = await this.#register([...wanted.keys()]);
      const writes: Promise<unknown>[] = [];
      for (const [name, s] of wanted) {
        const id = ids.get(name) ?? -1;
        if (id < 0) {
          refused.push(name);
          continue;
        }
        writes.push(this.#r.hset(metaKeys.settings, name, JSON.stringify(s)));
        this.#svcs.set(name, describe(name, id, s));
      }
      if (writes.length > 0) {
        await Promise.all(writes);
        await this.#r.incr(metaKeys.version);
      }
      return refused;
    });
  }

  async apply(records: readonly KeyedRecord[]): Promise<ApplyResult> {
    if (records.length === 0) return { accepted: 0, rejected: {} };
    return this.#guard(() => this.#apply(records));
  }

  async #apply(records: readonly KeyedRecord[]): Promise<ApplyResult> {
    // Round 1: clock, settings, new services.
    const sharedNow = await this.#refresh();
    const unknown = [...new Set(records.map((r) => r.service))].filter((n) => !this.#svcs.has(n));
    if (unknown.length > 0) {
      const ids = await this.#register(unknown);
      for (const [name, id] of ids) if (id >= 0) this.#svcs.set(name, describe(name, id, this.#o.defaults));
    }

    // Pre-aggregate, deciding late records and each record's clock as the in-memory state does.
    const event = this.#clock.mode === 'event';
    const ips = new Map<string, IpBatch>();
    const creds = new Map<string, CredBatch>();
    const totals = new Map<Svc, Map<number, [number, number, number]>>();
    let accepted = 0;
    let late = 0;
    let overServices = 0;
    let newestObserved = 0;
    let nowEnd = 0;
    for (const r of records) {
      const svc = this.#svcs.get(r.service);
      if (!svc) {
        overServices++;
        continue;
      }
      this.#clock.observe(r.ts);
      if (r.ts > newestObserved) newestObserved = r.ts;
      const now = event ? Math.max(sharedNow, this.#clock.now()) : this.#clock.now();
      if (r.ts <= now - svc.layout.longestMs) {
        late++;
        continue;
      }
      const ts = r.ts > now ? now : r.ts;
      if (now > nowEnd) nowEnd = now;
      const failure = isFailure(r.status);
      const success = isSuccess(r.status);
      const b = bucketOf(ts, svc.layout.bucketMs);
      const ik = `${svc.id}|${r.ipKey}`;
      let ib = ips.get(ik);
      if (!ib) ips.set(ik, (ib = { svc, ip: r.ipKey, buckets: new Map(), last: ts, recs: [], wakes: false }));
      addCounts(ib.buckets, b, failure, success);
      if (ts > ib.last) ib.last = ts;
      ib.recs.push({ ts: r.ts, cts: ts, now, status: r.status, failure, success });
      if (!ib.wakes) ib.wakes = IP_RULES.some((rule) => rule.wakes(r.status));
      let t = totals.get(svc);
      if (!t) totals.set(svc, (t = new Map()));
      addCounts(t, b, failure, success);
      if (r.credential) {
        const ck = `${svc.id}|${r.credential}`;
        let cb = creds.get(ck);
        if (!cb) creds.set(ck, (cb = { svc, cred: r.credential, ips: new Map(), last: ts, recs: [] }));
        const prev = cb.ips.get(r.ipKey);
        if (prev === undefined || ts > prev) cb.ips.set(r.ipKey, ts);
        if (ts > cb.last) cb.last = ts;
        cb.recs.push({ cts: ts, ip: r.ipKey, now });
      }
      accepted++;
    }

    // Candidate sets of the services in the batch: an IP needs its history
    // read (and the rules replayed) only when a record of it can wake a rule
    // or it is a candidate; every other IP is written blind.
    const svcList = [...totals.keys()];
    const cands = await Promise.all(svcList.map((svc) => Promise.all(svc.ipCands.map((key) => this.#r.smembers(key)))));
    const candOf = new Map(svcList.map((svc, i) => [svc, (cands[i] ?? []).map((m) => new Set(m))]));

    // Round 2: the pre-aggregated batch, one pipelined round. Reads of an
    // entity are issued before its writes, so they see it as it was.
    const r2: Promise<unknown>[] = [];
    if (event && newestObserved > 0) r2.push(this.#r.siemClockMax(metaKeys.clock, newestObserved));
    for (const [svc, t] of totals) {
      for (const [b, [req, fail, succ]] of t) {
        const key = svc.keys.totals(b);
        r2.push(this.#r.hincrby(key, 'r', req));
        if (fail) r2.push(this.#r.hincrby(key, 'f', fail));
        if (succ) r2.push(this.#r.hincrby(key, 's', succ));
        r2.push(this.#r.pexpire(key, svc.ttlMs));
      }
    }
    const hot: { ib: IpBatch; view: Promise<IpView>; cand: boolean[] }[] = [];
    for (const ib of ips.values()) {
      const { svc } = ib;
      const L = svc.layout;
      const sets = candOf.get(svc) ?? [];
      const cand = IP_RULES.map((_, i) => sets[i]?.has(ib.ip) === true);
      if (ib.wakes || cand.includes(true)) {
        const first = bucketOf((ib.recs[0] as IpRec).now, L.bucketMs);
        hot.push({ ib, view: readIp(this.#r, svc, ib.ip, first - L.span + 1, bucketOf(nowEnd, L.bucketMs)), cand });
      }
      let requests = 0;
      let failures = 0;
      const chunks = new Set<number>();
      for (const [b, [req, fail, succ]] of ib.buckets) {
        const chunk = Math.floor(b / L.span);
        const key = ipChunkKey(svc.id, ib.ip, L.bucketMs, chunk);
        chunks.add(chunk);
        r2.push(this.#r.hincrby(key, `r${b}`, req));
        if (fail) r2.push(this.#r.hincrby(key, `f${b}`, fail));
        if (succ) r2.push(this.#r.hincrby(key, `s${b}`, succ));
        requests += req;
        failures += fail;
      }
      for (const chunk of chunks) r2.push(this.#r.pexpire(ipChunkKey(svc.id, ib.ip, L.bucketMs, chunk), svc.ttlMs));
      r2.push(this.#r.zadd(svc.keys.seenIps, 'GT', ib.last, ib.ip));
      // Top candidates' scores only grow between sweeps: upper bounds of the
      // window counts, which queries and sweeps compute exactly.
      r2.push(this.#r.zincrby(svc.keys.topRequests, requests, ib.ip));
      if (failures) r2.push(this.#r.zincrby(svc.keys.topErrors, failures, ib.ip));
    }
    // The services' totals some rule reads, after this batch's writes.
    const hotSvcs = [...new Set(hot.map((h) => h.ib.svc))];
    const totalsRead = hotSvcs.map((svc) => {
      const c = bucketOf(nowEnd, svc.layout.bucketMs);
      return readTotals(this.#r, svc, c - svc.totalsReach + 1, c);
    });
    const credList = [...creds.values()];
    const credBefore = credList.map((cb) => {
      const cap = Math.max(this.#o.credentialMaxIps, cb.svc.settings.credential_min_ips);
      const args: (string | number)[] = [cb.svc.ttlMs, cap, cb.last, nowEnd - cb.svc.layout.longestMs];
      for (const [ip, ts] of cb.ips) args.push(ip, ts);
      r2.push(this.#r.zadd(cb.svc.keys.seenCreds, 'GT', cb.last, cb.cred));
      return this.#r.siemCredApply(credIpsKey(cb.svc.id, cb.cred), credMetaKey(cb.svc.id, cb.cred), ...args);
    });
    const [ipStates, credStates, totalsOf] = await Promise.all([
      Promise.all(hot.map((h) => h.view)),
      Promise.all(credBefore),
      Promise.all(totalsRead),
      Promise.all(r2),
    ]);
    const totalsBySvc = new Map(hotSvcs.map((svc, i) => [svc, totalsOf[i] ?? []]));

    // Round 3: replay each hot entity's records over its previous state; write what changed.
    const r3: Promise<unknown>[] = [];
    hot.forEach((h, i) => replayIp(this.#r, h.ib.svc, h.ib.ip, h.ib.recs, ipStates[i] as IpView, h.cand, totalsBySvc.get(h.ib.svc) ?? [], r3));
    credList.forEach((cb, i) => {
      const [flatIps, flatMeta] = credStates[i] ?? [[], []];
      replayCred(this.#r, cb.svc, cb.cred, cb.recs, flatIps, flatMeta, this.#o.credentialMaxIps, r3);
    });
    for (const svc of svcList) {
      // bound the top candidates
      r3.push(this.#r.zremrangebyrank(svc.keys.topRequests, 0, -(2 * svc.topCap) - 1));
      r3.push(this.#r.zremrangebyrank(svc.keys.topErrors, 0, -(2 * svc.topCap) - 1));
      for (const k of [svc.keys.seenIps, svc.keys.topRequests, svc.keys.topErrors, ...svc.ipCands]) r3.push(this.#r.pexpire(k, svc.ttlMs));
    }
    for (const svc of new Set(credList.map((cb) => cb.svc))) {
      for (const k of [svc.keys.seenCreds, ...svc.credCands]) r3.push(this.#r.pexpire(k, svc.ttlMs));
    }
    await Promise.all(r3);

    const rejected: ApplyResult['rejected'] = {};
    if (late) rejected.late = late;
    if (overServices) rejected.services = overServices;
    return { accepted, rejected };
  }

  async findings(filter: FindingFilter = {}): Promise<Finding[]> {
    return this.#guard(async () => findingsAt(this.#r, this.#services(), await this.#refresh(), filter, this.#o.maxFindings));
  }

  async top(service: string, by: 'requests' | 'errors', n?: number): Promise<TopList> {
    return this.#guard(async () => {
      const now = await this.#refresh();
      return topAt(this.#r, this.#svcs.get(service), service, by, n, now, this.settingsOf(service).window_seconds);
    });
  }

  /**
   * While Redis is down the gauges are empty rather than an error: /metrics
   * still answers, with kong_siem_state_errors_total telling why.
   */
  async gauges(): Promise<GaugeSnapshot> {
    return this.#gauges().catch((err) => {
      if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) throw err;
      return { services: [], findings: [], trackedIps: 0, trackedKeys: 0 };
    });
  }

  async #gauges(): Promise<GaugeSnapshot> {
    return this.#guard(async () => {
      const now = await this.#refresh();
      const svcs = this.#services();
      const [rows, findings] = await Promise.all([Promise.all(svcs.map((svc) => serviceGauges(this.#r, svc, now))), findingsAt(this.#r, svcs, now, {}, this.#o.maxFindings)]);
      let trackedIps = 0;
      let trackedCreds = 0;
      for (const [, i, cr] of rows) {
        trackedIps += i;
        trackedCreds += cr;
      }
      return { services: rows.map(([g]) => g), findings, trackedIps, trackedKeys: trackedIps + trackedCreds };
    });
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
    const got = await this.#r.set(`${metaKeys.clock}:sweep`, '1', 'PX', this.#o.sweepIntervalMs, 'NX');
    if (got === null) return;
    const now = await this.#refresh();
    await Promise.all(this.#services().map((svc) => sweepService(this.#r, svc, now)));
    await evict(this.#r, this.#services(), this.#o.maxKeys, now, this.onEvict);
  }
}
