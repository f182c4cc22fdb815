// Shared window state in Redis (SIEM_STATE=redis://...): any number of
// aggregators behind a load balancer hold one state and answer alike.
//
// The rules and the bucket arithmetic are those of memory-state.ts (same
// sub-bucket length, same detectors), so both backends decide identically.
// Per batch:
//   1. one round reads the shared event clock and the settings version (and
//      registers services seen for the first time);
//   2. the batch, pre-aggregated in memory (counts per IP key per sub-bucket,
//      newest ts per credential IP), goes out as one pipelined round: a Lua
//      script per touched entity (one slot each) that adds the counts and
//      returns the entity as it was before, plus per-service totals;
//   3. each entity's records are replayed in order over its "before" state,
//      evaluating the rules at each record's clock exactly as the in-memory
//      state does (candidate sets, `since`), and the changes go out as a
//      second pipelined round.
// Queries read candidate sets and top-N candidate sorted sets, never all keys.
import Ajv from 'ajv';
import type { Finding, FindingType, TopList } from '../../common/record';
import { isFailure, isSuccess } from '../../common/record';
import { DEFAULT_SETTINGS, longestWindowMs, settingsJsonSchema, type DetectionSettings } from '../../common/settings';
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
import { errors } from '../errors';
import { addToSeries, bucketOf, bucketsFor, emptyCounts, STRIDE, sumSeries } from '../window';
import type { RedisClient } from './redis-client';
import {
  CLOCK_MAX,
  CRED_APPLY,
  REGISTER,
  credIpsKey,
  credMetaKey,
  ipChunkKey,
  ipMetaKey,
  metaKeys,
  serviceKeys,
} from './redis-keys';
import type { ApplyResult, FindingFilter, GaugeSnapshot, KeyedRecord, ServiceGauges, SiemState, StateHealth } from './state';

/** sub-buckets per shortest IP window: must equal memory-state.ts's, so both backends bucket alike */
const SUB_BUCKETS = 20;
const FINDING_IPS_MAX = 20;
const NONE = -1;
/** keys evicted per sweep at the SIEM_MAX_KEYS cap */
const EVICT_PER_SWEEP = 10_000;

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

/** A service as this aggregator knows it: id from the shared registry, settings, derived window sizes. */
interface Svc {
  readonly name: string;
  readonly id: number;
  readonly settings: DetectionSettings;
  readonly bm: number;
  readonly longestMs: number;
  readonly kWindow: number;
  readonly kSpike: number;
  readonly kBaseline: number;
  /** sub-buckets an IP history keeps */
  readonly span: number;
  /** top candidates read per query (as memory-state's TopCandidates) */
  readonly topCap: number;
  /** TTL of every key of the service: the longest window plus slack (wall time) */
  readonly ttlMs: number;
  readonly keys: ReturnType<typeof serviceKeys>;
}

function describe(name: string, id: number, s: DetectionSettings): Svc {
  const bm = Math.max(1, Math.floor((1000 * Math.min(s.window_seconds, s.spike_window_seconds, s.spike_baseline_seconds)) / SUB_BUCKETS));
  const kWindow = bucketsFor(s.window_seconds * 1000, bm);
  const kSpike = bucketsFor(s.spike_window_seconds * 1000, bm);
  const kBaseline = bucketsFor(s.spike_baseline_seconds * 1000, bm);
  const longestMs = longestWindowMs(s);
  return {
    name, id, settings: s, bm, longestMs, kWindow, kSpike, kBaseline,
    span: Math.max(kWindow, kSpike + kBaseline),
    topCap: Math.max(256, 4 * s.top_n),
    // Keys expire by Redis's wall clock; with SIEM_CLOCK=event the windows are
    // cut by bucket numbers anyway, so the slack only has to cover a replay
    // running slower than the events it replays.
    ttlMs: 2 * longestMs + 60_000,
    keys: serviceKeys(id, bm),
  };
}

interface IpRec { ts: number; cts: number; now: number; failure: boolean; success: boolean }
interface IpBatch { svc: Svc; ip: string; buckets: Map<number, [number, number, number]>; last: number; recs: IpRec[]; anyFailure: boolean }
interface CredBatch { svc: Svc; cred: string; ips: Map<string, number>; last: number; recs: { cts: number; ip: string; now: number }[] }

/** An IP hash read back: series as window.ts wants it, plus flags. */
interface IpView { series: number[]; last: number; errorSince: number; spikeSince: number }

type Scripts = RedisClient & {
  siemCredApply(ips: string, meta: string, ...args: (string | number)[]): Promise<[string[], string[]]>;
  siemClockMax(key: string, ts: number): Promise<string>;
  siemRegister(registry: string, next: string, max: number, ...names: string[]): Promise<number[]>;
};

const ajv = new Ajv({ allErrors: false, coerceTypes: false });
const validateSettings = ajv.compile(settingsJsonSchema());

export class RedisState implements SiemState {
  readonly #r: Scripts;
  readonly #clock: Clock;
  readonly #o: RedisStateOptions;
  /** services by name, as last read from the shared registry */
  #svcs = new Map<string, Svc>();
  #version: string | null = '';
  #lastError = '';
  #sweeping = false;
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
      const s = json === undefined ? this.#o.defaults : (JSON.parse(json) as DetectionSettings);
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
      if (name.length === 0 || name.length > 256 || !validateSettings(value)) {
        refused.push(name);
        continue;
      }
      const merged: DetectionSettings = { ...this.#o.defaults };
      for (const k of Object.keys(DEFAULT_SETTINGS) as (keyof DetectionSettings)[]) {
        const v = (value as Record<string, unknown>)[k];
        if (typeof v === 'number') merged[k] = v;
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
      if (r.ts <= now - svc.longestMs) {
        late++;
        continue;
      }
      const ts = r.ts > now ? now : r.ts;
      if (now > nowEnd) nowEnd = now;
      const failure = isFailure(r.status);
      const success = isSuccess(r.status);
      const b = bucketOf(ts, svc.bm);
      const ik = `${svc.id}|${r.ipKey}`;
      let ib = ips.get(ik);
      if (!ib) ips.set(ik, (ib = { svc, ip: r.ipKey, buckets: new Map(), last: ts, recs: [], anyFailure: false }));
      addCounts(ib.buckets, b, failure, success);
      if (ts > ib.last) ib.last = ts;
      ib.recs.push({ ts: r.ts, cts: ts, now, failure, success });
      if (failure) ib.anyFailure = true;
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
    // read (and the rules replayed) only when the batch holds a failure of it
    // or it is a candidate; every other IP is written blind.
    const svcList = [...totals.keys()];
    const cands = await Promise.all(svcList.map((svc) => Promise.all([this.#r.smembers(svc.keys.errorCands), this.#r.smembers(svc.keys.spikeCands)])));
    const candOf = new Map(svcList.map((svc, i) => [svc, (cands[i] ?? [[], []]).map((m) => new Set(m)) as [Set<string>, Set<string>]]));

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
    const hot: { ib: IpBatch; view: Promise<IpView>; ce: boolean; cp: boolean }[] = [];
    for (const ib of ips.values()) {
      const { svc } = ib;
      const [ec, sc] = candOf.get(svc) ?? [new Set<string>(), new Set<string>()];
      const ce = ec.has(ib.ip);
      const cp = sc.has(ib.ip);
      if (ib.anyFailure || ce || cp) {
        const first = bucketOf((ib.recs[0] as IpRec).now, svc.bm);
        hot.push({ ib, view: this.#readIp(svc, ib.ip, first - svc.span + 1, bucketOf(nowEnd, svc.bm)), ce, cp });
      }
      let requests = 0;
      let failures = 0;
      const chunks = new Set<number>();
      for (const [b, [req, fail, succ]] of ib.buckets) {
        const chunk = Math.floor(b / svc.span);
        const key = ipChunkKey(svc.id, ib.ip, svc.bm, chunk);
        chunks.add(chunk);
        r2.push(this.#r.hincrby(key, `r${b}`, req));
        if (fail) r2.push(this.#r.hincrby(key, `f${b}`, fail));
        if (succ) r2.push(this.#r.hincrby(key, `s${b}`, succ));
        requests += req;
        failures += fail;
      }
      for (const chunk of chunks) r2.push(this.#r.pexpire(ipChunkKey(svc.id, ib.ip, svc.bm, chunk), svc.ttlMs));
      r2.push(this.#r.zadd(svc.keys.seenIps, 'GT', ib.last, ib.ip));
      // Top candidates' scores only grow between sweeps: upper bounds of the
      // window counts, which queries and sweeps compute exactly.
      r2.push(this.#r.zincrby(svc.keys.topRequests, requests, ib.ip));
      if (failures) r2.push(this.#r.zincrby(svc.keys.topErrors, failures, ib.ip));
    }
    const credList = [...creds.values()];
    const credBefore = credList.map((cb) => {
      const cap = Math.max(this.#o.credentialMaxIps, cb.svc.settings.credential_min_ips);
      const args: (string | number)[] = [cb.svc.ttlMs, cap, cb.last, nowEnd - cb.svc.longestMs];
      for (const [ip, ts] of cb.ips) args.push(ip, ts);
      r2.push(this.#r.zadd(cb.svc.keys.seenCreds, 'GT', cb.last, cb.cred));
      return this.#r.siemCredApply(credIpsKey(cb.svc.id, cb.cred), credMetaKey(cb.svc.id, cb.cred), ...args);
    });
    const [ipStates, credStates] = await Promise.all([Promise.all(hot.map((h) => h.view)), Promise.all(credBefore), Promise.all(r2)]);

    // Round 3: replay each hot entity's records over its previous state; write what changed.
    const r3: Promise<unknown>[] = [];
    hot.forEach((h, i) => this.#replayIp(h.ib, ipStates[i] as IpView, h.ce, h.cp, r3));
    credList.forEach((cb, i) => {
      const [flatIps, flatMeta] = credStates[i] ?? [[], []];
      this.#replayCred(cb, flatIps, flatMeta, r3);
    });
    for (const svc of svcList) {
      // bound the top candidates
      r3.push(this.#r.zremrangebyrank(svc.keys.topRequests, 0, -(2 * svc.topCap) - 1));
      r3.push(this.#r.zremrangebyrank(svc.keys.topErrors, 0, -(2 * svc.topCap) - 1));
      for (const k of [svc.keys.seenIps, svc.keys.errorCands, svc.keys.spikeCands, svc.keys.topRequests, svc.keys.topErrors]) r3.push(this.#r.pexpire(k, svc.ttlMs));
    }
    for (const svc of new Set(credList.map((cb) => cb.svc))) {
      for (const k of [svc.keys.seenCreds, svc.keys.credCands]) r3.push(this.#r.pexpire(k, svc.ttlMs));
    }
    await Promise.all(r3);

    const rejected: ApplyResult['rejected'] = {};
    if (late) rejected.late = late;
    if (overServices) rejected.services = overServices;
    return { accepted, rejected };
  }

  /** The in-memory state's per-record rule evaluation (memory-state.ts #applyIp), over the stored history. */
  #replayIp(ib: IpBatch, v: IpView, ce0: boolean, cp0: boolean, out: Promise<unknown>[]): void {
    const { svc } = ib;
    const s = svc.settings;
    let { series, last, errorSince: es, spikeSince: ps } = v;
    let ce = ce0;
    let cp = cp0;
    const w = emptyCounts();
    const sp = emptyCounts();
    const base = emptyCounts();
    for (const rec of ib.recs) {
      if (last !== NONE && last <= rec.now - svc.longestMs) {
        series = [];
        es = NONE;
        ps = NONE;
      }
      if (last === NONE || rec.cts > last) last = rec.cts;
      addToSeries(series, bucketOf(rec.cts, svc.bm), rec.failure, rec.success);
      const c = bucketOf(rec.now, svc.bm);
      if (rec.failure || ce) {
        sumSeries(series, c - svc.kWindow, c, w);
        if (errorIpCandidate(w, s)) {
          ce = true;
          if (errorIp(w, s)) {
            if (es === NONE) es = rec.ts;
          } else es = NONE;
        } else {
          ce = false;
          es = NONE;
        }
      }
      if (rec.failure || cp) {
        sumSeries(series, c - svc.kSpike, c, sp);
        sumSeries(series, c - svc.kSpike - svc.kBaseline, c - svc.kSpike, base);
        if (failureSpikeCandidate(sp, s)) {
          cp = true;
          if (failureSpike(base, sp, s)) {
            if (ps === NONE) ps = rec.ts;
          } else ps = NONE;
        } else {
          cp = false;
          ps = NONE;
        }
      }
    }
    const key = ipMetaKey(svc.id, ib.ip, svc.bm);
    const set: (string | number)[] = [];
    const del: string[] = [];
    const field = (name: string, before: number, after: number) => {
      if (before === after) return;
      if (after === NONE) del.push(name);
      else set.push(name, after);
    };
    field('E', v.errorSince, es);
    field('P', v.spikeSince, ps);
    if (set.length > 0) out.push(this.#r.hset(key, ...set), this.#r.pexpire(key, svc.ttlMs));
    if (del.length > 0) out.push(this.#r.hdel(key, ...del));
    if (ce !== ce0) out.push(ce ? this.#r.sadd(svc.keys.errorCands, ib.ip) : this.#r.srem(svc.keys.errorCands, ib.ip));
    if (cp !== cp0) out.push(cp ? this.#r.sadd(svc.keys.spikeCands, ib.ip) : this.#r.srem(svc.keys.spikeCands, ib.ip));
  }

  /** An IP key's history over sub-buckets [from, to], its newest ts and rule state. */
  async #readIp(svc: Svc, ip: string, from: number, to: number): Promise<IpView> {
    const reads: Promise<Record<string, string>>[] = [];
    for (let chunk = Math.floor(from / svc.span); chunk <= Math.floor(to / svc.span); chunk++) reads.push(this.#r.hgetall(ipChunkKey(svc.id, ip, svc.bm, chunk)));
    const [meta, score, ...chunks] = await Promise.all([this.#r.hgetall(ipMetaKey(svc.id, ip, svc.bm)), this.#r.zscore(svc.keys.seenIps, ip), ...reads]);
    return ipView(chunks as Record<string, string>[], meta as Record<string, string>, score as string | null);
  }

  /** Sum of one count (r or f) of an IP key over sub-buckets [from, to]. */
  async #windowSum(svc: Svc, ip: string, kind: 'r' | 'f', from: number, to: number): Promise<number> {
    const reads: Promise<(string | null)[]>[] = [];
    for (let chunk = Math.floor(from / svc.span); chunk <= Math.floor(to / svc.span); chunk++) {
      const fields: string[] = [];
      for (let b = Math.max(from, chunk * svc.span); b <= Math.min(to, chunk * svc.span + svc.span - 1); b++) fields.push(`${kind}${b}`);
      reads.push(this.#r.hmget(ipChunkKey(svc.id, ip, svc.bm, chunk), ...fields));
    }
    let n = 0;
    for (const vals of await Promise.all(reads)) for (const x of vals) n += Number(x ?? 0);
    return n;
  }

  /** memory-state.ts #applyCredential, over the stored IP set. */
  #replayCred(cb: CredBatch, flatIps: string[], flatMeta: string[], out: Promise<unknown>[]): void {
    const { svc } = cb;
    const s = svc.settings;
    const ips = new Map<string, number>();
    for (let i = 0; i + 1 < flatIps.length; i += 2) ips.set(flatIps[i] as string, Number(flatIps[i + 1]));
    const meta = pairs(flatMeta);
    let last = meta.L === undefined ? NONE : Number(meta.L);
    const since0 = meta.S === undefined ? NONE : Number(meta.S);
    const cand0 = meta.C !== undefined;
    let since = since0;
    let cand = cand0;
    const cap = Math.max(this.#o.credentialMaxIps, s.credential_min_ips);
    for (const rec of cb.recs) {
      if (last !== NONE && last <= rec.now - svc.longestMs) {
        ips.clear();
        since = NONE;
      }
      if (last === NONE || rec.cts > last) last = rec.cts;
      const prev = ips.get(rec.ip);
      ips.delete(rec.ip); // re-insert: Map order is order of last use
      ips.set(rec.ip, prev !== undefined && prev > rec.cts ? prev : rec.cts);
      if (ips.size > cap) ips.delete(ips.keys().next().value as string);
      if (credentialIps(distinctIpsSince(ips, rec.now - s.credential_window_seconds * 1000), s) !== undefined) {
        cand = true;
        if (since === NONE) since = rec.cts;
      } else {
        cand = false;
        since = NONE;
      }
    }
    const key = credMetaKey(svc.id, cb.cred);
    if (since !== since0) out.push(since === NONE ? this.#r.hdel(key, 'S') : this.#r.hset(key, 'S', since));
    if (cand !== cand0) {
      out.push(cand ? this.#r.hset(key, 'C', 1) : this.#r.hdel(key, 'C'));
      out.push(cand ? this.#r.sadd(svc.keys.credCands, cb.cred) : this.#r.srem(svc.keys.credCands, cb.cred));
    }
  }

  async findings(filter: FindingFilter = {}): Promise<Finding[]> {
    return this.#guard(async () => this.#findingsAt(await this.#refresh(), filter));
  }

  async #findingsAt(now: number, filter: FindingFilter): Promise<Finding[]> {
    const want = (t: FindingType) => filter.type === undefined || filter.type === t;
    const perService = this.#services()
      .filter((svc) => filter.service === undefined || filter.service === svc.name)
      .map(async (svc) => {
        const s = svc.settings;
        const found: Finding[] = [];
        const [errs, spikes, creds] = await Promise.all([
          want('error_ip') ? this.#r.smembers(svc.keys.errorCands) : [],
          want('failure_spike') ? this.#r.smembers(svc.keys.spikeCands) : [],
          want('credential_ips') ? this.#r.smembers(svc.keys.credCands) : [],
        ]);
        const ipSet = [...new Set([...errs, ...spikes])];
        const c = bucketOf(now, svc.bm);
        const [views, credViews] = await Promise.all([
          Promise.all(ipSet.map((ip) => this.#readIp(svc, ip, c - svc.span + 1, c))),
          Promise.all(creds.map((c) => Promise.all([this.#r.zrange(credIpsKey(svc.id, c), 0, -1, 'WITHSCORES'), this.#r.hgetall(credMetaKey(svc.id, c))]))),
        ]);
        const byIp = new Map(ipSet.map((ip, i) => [ip, views[i] as IpView]));
        for (const ip of errs) {
          const v = byIp.get(ip);
          if (!v || v.last === NONE) continue;
          const hit = errorIp(sumSeries(v.series, c - svc.kWindow, c, emptyCounts()), s);
          if (hit) found.push({ type: 'error_ip', service: svc.name, ip, count: hit.count, ratio: round(hit.ratio), since: sinceOf(v.errorSince, v.last) });
        }
        for (const ip of spikes) {
          const v = byIp.get(ip);
          if (!v || v.last === NONE) continue;
          const spike = sumSeries(v.series, c - svc.kSpike, c, emptyCounts());
          const base = sumSeries(v.series, c - svc.kSpike - svc.kBaseline, c - svc.kSpike, emptyCounts());
          const hit = failureSpike(base, spike, s);
          if (hit) found.push({ type: 'failure_spike', service: svc.name, ip, count: hit.count, successes: hit.successes, ratio: round(hit.ratio), since: sinceOf(v.spikeSince, v.last) });
        }
        const from = now - s.credential_window_seconds * 1000;
        creds.forEach((cred, i) => {
          const [flat, meta] = credViews[i] ?? [[], {}];
          const ips = new Map<string, number>();
          for (let j = 0; j + 1 < flat.length; j += 2) ips.set(flat[j] as string, Number(flat[j + 1]));
          const count = credentialIps(distinctIpsSince(ips, from), s);
          if (count === undefined || meta.L === undefined) return;
          found.push({ type: 'credential_ips', service: svc.name, credential: cred, count, ips: newestIps(ips, from, FINDING_IPS_MAX), since: sinceOf(meta.S === undefined ? NONE : Number(meta.S), Number(meta.L)) });
        });
        return found;
      });
    const out = (await Promise.all(perService)).flat();
    // the strongest first; ties in a fixed order, so every aggregator lists alike
    out.sort((a, b) => b.count - a.count || cmp(a.type, b.type) || cmp(a.service, b.service) || cmp(entityOf(a), entityOf(b)));
    return out.length > this.#o.maxFindings ? out.slice(0, this.#o.maxFindings) : out;
  }

  async top(service: string, by: 'requests' | 'errors', n?: number): Promise<TopList> {
    return this.#guard(async () => this.#topAt(service, by, n, await this.#refresh()));
  }

  async #topAt(service: string, by: 'requests' | 'errors', n: number | undefined, now: number): Promise<TopList> {
    const svc = this.#svcs.get(service);
    const s = svc?.settings ?? this.#o.defaults;
    const list: TopList = { service, by, window_seconds: s.window_seconds, items: [], other: 0 };
    if (!svc) return list;
    const c = bucketOf(now, svc.bm);
    const f = by === 'requests' ? 'r' : 'f';
    const buckets: number[] = [];
    for (let b = c - svc.kWindow + 1; b <= c; b++) buckets.push(b);
    // Scores are each IP's window count when last touched, an upper bound of
    // its count now: the true top N is among the best-scored candidates.
    const [members, totals] = await Promise.all([
      this.#r.zrevrange(by === 'requests' ? svc.keys.topRequests : svc.keys.topErrors, 0, svc.topCap - 1),
      Promise.all(buckets.map((b) => this.#r.hget(svc.keys.totals(b), f))),
    ]);
    const counts = await Promise.all(members.map((ip) => this.#windowSum(svc, ip, f, c - svc.kWindow + 1, c)));
    const items = members.map((ip, i) => ({ ip, count: counts[i] ?? 0 })).filter((it) => it.count > 0);
    items.sort((a, b) => b.count - a.count || (a.ip < b.ip ? -1 : 1));
    list.items = items.slice(0, n ?? s.top_n);
    const total = totals.reduce((a, x) => a + Number(x ?? 0), 0);
    let listed = 0;
    for (const it of list.items) listed += it.count;
    list.other = Math.max(0, total - listed);
    return list;
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
      const perService = svcs.map(async (svc): Promise<[ServiceGauges, number, number]> => {
        const c = bucketOf(now, svc.bm);
        const expired = `(${now - svc.longestMs}`;
        const windowReq: Promise<string | null>[] = [];
        for (let b = c - svc.kWindow + 1; b <= c; b++) windowReq.push(this.#r.hget(svc.keys.totals(b), 'r'));
        const [topRequests, topErrors, uniqueIps, req, ipsHeld, credsHeld] = await Promise.all([
          this.#topAt(svc.name, 'requests', undefined, now),
          this.#topAt(svc.name, 'errors', undefined, now),
          // IP keys whose newest record falls in the window's sub-buckets (memory-state's lastSeen histogram)
          this.#r.zcount(svc.keys.seenIps, (c - svc.kWindow + 1) * svc.bm, (c + 1) * svc.bm - 1),
          Promise.all(windowReq),
          this.#r.zcount(svc.keys.seenIps, expired, '+inf'),
          this.#r.zcount(svc.keys.seenCreds, expired, '+inf'),
        ]);
        const windowRequests = req.reduce((a, x) => a + Number(x ?? 0), 0);
        return [{ service: svc.name, topRequests, topErrors, uniqueIps, windowRequests }, ipsHeld, credsHeld];
      });
      const [rows, findings] = await Promise.all([Promise.all(perService), this.#findingsAt(now, {})]);
      let trackedIps = 0;
      let trackedCreds = 0;
      for (const [, i, cr] of rows) {
        trackedIps += i;
        trackedCreds += cr;
      }
      return { services: rows.map(([g]) => g), findings, trackedIps, trackedKeys: trackedIps + trackedCreds };
    });
  }

  sweep(): void {
    if (this.#sweeping || this.#closing || this.#r.status !== 'ready') return;
    this.#sweeping = true;
    this.#sweepRun = this.#sweep()
      .catch((err) => this.#o.onError?.(err))
      .finally(() => {
        this.#sweeping = false;
      });
  }

  /** Housekeeping, by one aggregator per interval (a lock key): expiry of the indexes, stale candidates, fresh top scores, the key cap. */
  async #sweep(): Promise<void> {
    const got = await this.#r.set(`${metaKeys.clock}:sweep`, '1', 'PX', this.#o.sweepIntervalMs, 'NX');
    if (got === null) return;
    const now = await this.#refresh();
    await Promise.all(this.#services().map((svc) => this.#sweepService(svc, now)));
    await this.#evict();
  }

  async #sweepService(svc: Svc, now: number): Promise<void> {
    const s = svc.settings;
    const k = svc.keys;
    const c = bucketOf(now, svc.bm);
    const ops: Promise<unknown>[] = [
      this.#r.zremrangebyscore(k.seenIps, '-inf', now - svc.longestMs),
      this.#r.zremrangebyscore(k.seenCreds, '-inf', now - svc.longestMs),
    ];
    // awaited at the end; if a read below fails first, they must not reject unhandled
    for (const op of ops) op.catch(() => {});
    const [errs, spikes, creds, tr, te] = await Promise.all([
      this.#r.smembers(k.errorCands),
      this.#r.smembers(k.spikeCands),
      this.#r.smembers(k.credCands),
      this.#r.zrange(k.topRequests, 0, -1),
      this.#r.zrange(k.topErrors, 0, -1),
    ]);
    const ipSet = [...new Set([...errs, ...spikes, ...tr, ...te])];
    const views = new Map<string, IpView>();
    const raw = await Promise.all(ipSet.map((ip) => this.#readIp(svc, ip, c - svc.span + 1, c)));
    ipSet.forEach((ip, i) => views.set(ip, raw[i] as IpView));
    const empty: IpView = ipView([], {}, null);
    for (const ip of errs) {
      const w = sumSeries((views.get(ip) ?? empty).series, c - svc.kWindow, c, emptyCounts());
      const key = ipMetaKey(svc.id, ip, svc.bm);
      if (!errorIpCandidate(w, s)) ops.push(this.#r.srem(k.errorCands, ip), this.#r.hdel(key, 'E'));
      else if (!errorIp(w, s)) ops.push(this.#r.hdel(key, 'E'));
    }
    for (const ip of spikes) {
      const v = views.get(ip) ?? empty;
      const spike = sumSeries(v.series, c - svc.kSpike, c, emptyCounts());
      const base = sumSeries(v.series, c - svc.kSpike - svc.kBaseline, c - svc.kSpike, emptyCounts());
      const key = ipMetaKey(svc.id, ip, svc.bm);
      if (!failureSpikeCandidate(spike, s)) ops.push(this.#r.srem(k.spikeCands, ip), this.#r.hdel(key, 'P'));
      else if (!failureSpike(base, spike, s)) ops.push(this.#r.hdel(key, 'P'));
    }
    const from = now - s.credential_window_seconds * 1000;
    const credIps = await Promise.all(creds.map((cr) => this.#r.zrange(credIpsKey(svc.id, cr), 0, -1, 'WITHSCORES')));
    creds.forEach((cr, i) => {
      const flat = credIps[i] ?? [];
      const ips = new Map<string, number>();
      for (let j = 0; j + 1 < flat.length; j += 2) ips.set(flat[j] as string, Number(flat[j + 1]));
      if (credentialIps(distinctIpsSince(ips, from), s) === undefined) ops.push(this.#r.srem(k.credCands, cr), this.#r.hdel(credMetaKey(svc.id, cr), 'C', 'S'));
    });
    // fresh scores for the top candidates; gone from the window: out
    const refresh = (key: string, members: string[], field: 'requests' | 'failures') => {
      for (const ip of members) {
        const n = sumSeries((views.get(ip) ?? empty).series, c - svc.kWindow, c, emptyCounts())[field];
        ops.push(n > 0 ? this.#r.zadd(key, n, ip) : this.#r.zrem(key, ip));
      }
    };
    refresh(k.topRequests, tr, 'requests');
    refresh(k.topErrors, te, 'failures');
    await Promise.all(ops);
  }

  /** SIEM_MAX_KEYS: the least recently seen IP and credential keys go first, counted as evictions. */
  async #evict(): Promise<void> {
    const svcs = this.#services();
    const sizes = await Promise.all(svcs.map((svc) => Promise.all([this.#r.zcard(svc.keys.seenIps), this.#r.zcard(svc.keys.seenCreds)])));
    const held = sizes.reduce((a, [i, c]) => a + i + c, 0);
    const excess = Math.min(EVICT_PER_SWEEP, held - this.#o.maxKeys);
    if (excess <= 0) return;
    const oldest = await Promise.all(
      svcs.map((svc) => Promise.all([this.#r.zrange(svc.keys.seenIps, 0, excess - 1, 'WITHSCORES'), this.#r.zrange(svc.keys.seenCreds, 0, excess - 1, 'WITHSCORES')])),
    );
    const all: { svc: Svc; table: 'ip' | 'credential'; key: string; ts: number }[] = [];
    svcs.forEach((svc, i) => {
      const [ipFlat, credFlat] = oldest[i] ?? [[], []];
      for (let j = 0; j + 1 < ipFlat.length; j += 2) all.push({ svc, table: 'ip', key: ipFlat[j] as string, ts: Number(ipFlat[j + 1]) });
      for (let j = 0; j + 1 < credFlat.length; j += 2) all.push({ svc, table: 'credential', key: credFlat[j] as string, ts: Number(credFlat[j + 1]) });
    });
    all.sort((a, b) => a.ts - b.ts);
    const ops: Promise<unknown>[] = [];
    for (const e of all.slice(0, excess)) {
      const k = e.svc.keys;
      if (e.table === 'ip') {
        ops.push(
          this.#r.zrem(k.seenIps, e.key), this.#r.del(ipMetaKey(e.svc.id, e.key, e.svc.bm)),
          this.#r.srem(k.errorCands, e.key), this.#r.srem(k.spikeCands, e.key),
          this.#r.zrem(k.topRequests, e.key), this.#r.zrem(k.topErrors, e.key),
        );
      } else {
        ops.push(this.#r.zrem(k.seenCreds, e.key), this.#r.del(credIpsKey(e.svc.id, e.key)), this.#r.del(credMetaKey(e.svc.id, e.key)), this.#r.srem(k.credCands, e.key));
      }
      this.onEvict?.(e.table);
    }
    await Promise.all(ops);
  }
}

function addCounts(m: Map<number, [number, number, number]>, b: number, failure: boolean, success: boolean): void {
  let c = m.get(b);
  if (!c) m.set(b, (c = [0, 0, 0]));
  c[0]++;
  if (failure) c[1]++;
  if (success) c[2]++;
}

function pairs(flat: readonly string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i] as string] = flat[i + 1] as string;
  return o;
}

/** An IP key's chunk hashes, rule state and newest ts as a window.ts series, ascending by bucket. */
function ipView(chunks: readonly Record<string, string>[], meta: Record<string, string>, newest: string | null): IpView {
  const byBucket = new Map<number, [number, number, number]>();
  for (const h of chunks) {
    for (const [f, val] of Object.entries(h)) {
      const kind = f.charCodeAt(0);
      const b = Number(f.slice(1));
      let c = byBucket.get(b);
      if (!c) byBucket.set(b, (c = [0, 0, 0]));
      c[kind === 114 ? 0 : kind === 102 ? 1 : 2] = Number(val);
    }
  }
  const buckets = [...byBucket.keys()].sort((a, b) => a - b);
  const series = new Array<number>(buckets.length * STRIDE);
  buckets.forEach((b, i) => {
    const c = byBucket.get(b) as [number, number, number];
    series[i * STRIDE] = b;
    series[i * STRIDE + 1] = c[0];
    series[i * STRIDE + 2] = c[1];
    series[i * STRIDE + 3] = c[2];
  });
  return {
    series,
    last: newest === null ? NONE : Number(newest),
    errorSince: meta.E === undefined ? NONE : Number(meta.E),
    spikeSince: meta.P === undefined ? NONE : Number(meta.P),
  };
}

function sinceOf(since: number, lastTs: number): number {
  return since === NONE ? lastTs : since;
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function entityOf(f: Finding): string {
  return f.type === 'credential_ips' ? f.credential : f.ip;
}

function sameSettings(a: DetectionSettings, b: DetectionSettings): boolean {
  for (const k of Object.keys(a) as (keyof DetectionSettings)[]) if (a[k] !== b[k]) return false;
  return true;
}
