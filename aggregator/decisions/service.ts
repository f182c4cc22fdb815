// The decision set: derived from the findings on a timer, changed by
// operators, read by bouncers (stream and live) and by the admin listing.
// Every write runs as the repo's only writer; reads never write except a
// bouncer's own stream position.
import { MANUAL_SCENARIO, MANUAL_STRENGTH, toWire, type DecisionOrigin, type StoredDecision, type WireDecision } from './model';
import { isEmpty, noChanges, reconcile } from './reconcile';
import { parseTarget, TARGET_FORMS, targetOf } from './policy';
import { bouncerId, type DecisionsConfig } from './config';
import type { DecisionRepo, SetVersion } from './repo';
import { ActiveSet, renderTombstones } from './active-set';
import { streamOf } from './streams';
import { isIPv4 } from 'node:net';
import { ipKey } from '../../common/ip-key';

export class DecisionError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** The admin listing: the wire fields plus why and since when. */
export interface ListedDecision extends WireDecision {
  until: number;
  created: number;
  reason?: string;
  evidence: StoredDecision['evidence'];
}

const SCOPES = new Set(['ip', 'range']);
/** tombstones kept beyond what every bouncer has pulled, as multiples of SIEM_MAX_DECISIONS */
const TOMBSTONE_FACTOR = 2;

export class DecisionService {
  readonly bouncers: readonly string[];
  private readonly started: number;
  private cache?: ActiveSet;
  /** the refresh under way (concurrent readers share it) and how many were started */
  private refreshing?: { n: number; p: Promise<ActiveSet> };
  private refreshes = 0;

  constructor(
    readonly repo: DecisionRepo,
    readonly config: DecisionsConfig,
    private readonly wallNow: () => number,
  ) {
    this.bouncers = config.bouncerKeys.map(bouncerId);
    this.started = wallNow();
  }

  /** One round: bring the decisions in line with `findings`. Returns how many decisions changed. */
  async reconcile(findings: readonly unknown[]): Promise<number> {
    return this.written(async () => {
      const [set, suppressed] = await Promise.all([this.activeSet(), this.repo.suppressed()]);
      const c = reconcile({
        active: set.decisions(),
        suppressed,
        findings,
        policy: this.config.policy,
        allowlist: this.config.allowlist,
        max: this.config.max,
        now: this.wallNow(),
      });
      if (!isEmpty(c)) await this.repo.apply(c);
      await this.repo.prune(this.bouncers, TOMBSTONE_FACTOR * this.config.max);
      return c.add.length + c.remove.length;
    });
  }

  /**
   * `fn` as the store's only writer, then this aggregator's set brought
   * forward to what it wrote: the encoding of a change is paid by the writer
   * (the reconcile timer, the operator's call), not by the next bouncer's pull.
   */
  private async written<T>(fn: () => Promise<T>): Promise<T> {
    const out = await this.repo.exclusive(fn);
    // a failed refresh leaves the write done; the next reader tries again
    await this.activeSet().catch(() => undefined);
    return out;
  }

  /**
   * The active set at the store's current version, or at least at `at`:
   * the cached one when it is that version, else the cache brought forward
   * by the store's delta (only the ids changed since; the whole set when the
   * store's change log no longer reaches back to the cache's version).
   */
  private async activeSet(at?: SetVersion): Promise<ActiveSet> {
    // a refresh numbered `need` or later started after this call: it reads what was written before
    const need = this.refreshes + 1;
    for (;;) {
      const c = this.cache;
      if (c && at && c.epoch === at.epoch && c.version >= at.version) return c;
      const r = this.refreshing;
      if (!r) return this.startRefresh();
      const set = await r.p.catch((err) => {
        if (r.n >= need) throw err;
      });
      if (set && r.n >= need) return set;
    }
  }

  private startRefresh(): Promise<ActiveSet> {
    const n = ++this.refreshes;
    const p = this.refresh().finally(() => {
      if (this.refreshing?.n === n) this.refreshing = undefined;
    });
    this.refreshing = { n, p };
    return p;
  }

  private async refresh(): Promise<ActiveSet> {
    const c = this.cache;
    const d = await this.repo.changes(c && { version: c.version, epoch: c.epoch });
    if (c && d.epoch === c.epoch && d.version === c.version) return c;
    const set = c ? c.next(d) : new ActiveSet(d.version, d.full ?? d.upserts, { epoch: d.epoch });
    this.cache = set;
    return set;
  }

  /**
   * Bring the cached set forward to the store's current version (the
   * background follower on a shared store): another aggregator's writes are
   * then applied before a bouncer asks, and its pull pays only for a change
   * younger than the follower's period. A no-op read when nothing changed.
   */
  async follow(): Promise<void> {
    await this.activeSet();
  }

  /** the version and epoch of the set this aggregator holds (undefined before its first read) */
  cachedVersion(): SetVersion | undefined {
    const c = this.cache;
    return c && { version: c.version, epoch: c.epoch };
  }

  /**
   * `GET /v1/decisions/stream` for the bouncer whose key hashes to `bouncer`,
   * pulling from `address`: the JSON answer. Each key and address has its own
   * position (streams.ts), so hosts sharing a key each get every change.
   */
  async stream(bouncer: string, startup: boolean, scopes: string | undefined, address = ''): Promise<Buffer> {
    const want = scopeFilter(scopes);
    const stream = streamOf(bouncer, address);
    let pos = startup ? undefined : await this.repo.position(stream);
    let v = await this.repo.view(pos);
    // a position ahead of the store (its data was lost): start this bouncer over
    if (pos !== undefined && pos > v.seq) v = await this.repo.view((pos = undefined));
    const set = await this.activeSet(v);
    const now = this.wallNow();
    // under a second left is not handed out: the firewall bouncer would truncate it to
    // ipset's `timeout 0`, which means forever; its removal follows in `deleted` anyway
    const fresh = set.pick({ now, minLeft: 1000, scope: want, after: pos, upTo: v.seq });
    // a decision both added and removed since the last pull never reached this bouncer
    const gone = pos === undefined ? [] : v.removed.filter((t) => t.seq <= v.seq && t.id <= pos && want(t.scope));
    await this.repo.pulled(stream, bouncer, v.seq, now);
    return set.render(fresh, now, { prefix: '{"new":', suffix: `,"deleted":${renderTombstones(gone)}}` });
  }

  /** `GET /v1/decisions?ip=|range=`: JSON array of the active decisions covering it, or `null`; never moves a position. */
  async live(q: { ip?: string; range?: string; contains?: boolean; scopes?: string }): Promise<Buffer | 'null'> {
    const text = q.ip ?? q.range;
    const now = this.wallNow();
    const want = scopeFilter(q.scopes);
    const set = await this.activeSet();
    let found;
    if (text === undefined) found = set.pick({ now, minLeft: 0, scope: want });
    else {
      const t = parseTarget(text);
      if (!t) throw new DecisionError(400, `"${text}" is not an IP address or CIDR (${TARGET_FORMS})`);
      const contains = q.contains ?? true;
      found = set.covering(t, targetOf(text)?.value, contains, now);
      // Records key an IPv6 address carrying an IPv4 client as that IPv4 (ip-key.ts), so its
      // bans are on the IPv4: a live bouncer seeing the client as logged must find them too.
      const v4 = carriedIPv4(text, t[1] === 128 && t[0].kind() === 'ipv6');
      const t4 = v4 === undefined ? undefined : parseTarget(v4);
      if (t4) found = [...new Set([...found, ...set.covering(t4, v4, contains, now)])].sort((a, b) => a - b);
      found = found.filter((i) => want((set.entries[i] as (typeof set.entries)[number]).d.scope));
    }
    // CrowdSec answers `null` when nothing matches
    return found.length ? set.render(found, now) : 'null';
  }

  /** The admin listing: wire fields plus until, created, reason, evidence, inside `prefix` … `suffix`. */
  async listJson(prefix = '', suffix = ''): Promise<Buffer> {
    const now = this.wallNow();
    const set = await this.activeSet();
    return set.render(set.pick({ now, minLeft: 0, scope: () => true }), now, { admin: true, prefix, suffix });
  }

  async list(): Promise<ListedDecision[]> {
    return JSON.parse((await this.listJson()).toString('utf8')) as ListedDecision[];
  }

  /**
   * Take back the active decisions SIEM_ALLOWLIST covers. The allowlist is
   * read at start, and reconcile only keeps it from making new ones: a ban
   * made before its address was allowlisted (restored from the decisions
   * file, or kept in Redis) stayed with bouncers to its end, 4 h by default.
   * Returns the values taken back.
   */
  async dropAllowlisted(): Promise<string[]> {
    const allow = this.config.allowlist;
    if (allow.size === 0) return [];
    return this.written(async () => {
      const c = noChanges();
      const values: string[] = [];
      for (const d of (await this.activeSet()).decisions())
        if (allow.covers(d.value)) {
          c.remove.push(d.id);
          values.push(d.value);
        }
      if (c.remove.length) await this.repo.apply(c);
      return values;
    });
  }

  /** A manual ban. It replaces any decision on the same value; it may displace the weakest automatic one at the bound. */
  async add(value: string, durationMs: number, reason: string | undefined): Promise<ListedDecision> {
    const t = targetOf(value);
    if (!t) throw new DecisionError(400, `"${value}" is not an IP address or CIDR (${TARGET_FORMS})`);
    // Always a slip (an unset variable in a script): nftables bouncers would cut every client, the operator included.
    if (t.value.endsWith('/0')) throw new DecisionError(400, `${t.value} would ban every address: ban narrower ranges`);
    if (this.config.allowlist.covers(t.value))
      throw new DecisionError(422, `${t.value} is allowlisted (SIEM_ALLOWLIST): it is never banned`);
    return this.written(async () => {
      const now = this.wallNow();
      const set = await this.activeSet();
      const c = noChanges();
      const at = set.indexOfValue(t.value, t.scope === 'Range', now);
      if (at >= 0) c.remove.push((set.entries[at] as { id: number }).id);
      if (set.alive(now) - (at >= 0 ? 1 : 0) >= this.config.max) {
        const weakest = set.weakestAutomatic(now, at);
        if (weakest < 0) throw new DecisionError(409, `SIEM_MAX_DECISIONS (${this.config.max}) manual decisions are active`);
        c.remove.push((set.entries[weakest] as { id: number }).id);
      }
      const until = now + durationMs;
      c.add.push({
        origin: 'manual',
        scenario: MANUAL_SCENARIO,
        scope: t.scope,
        value: t.value,
        until,
        created: now,
        issuedUntil: until,
        durationMs,
        strength: MANUAL_STRENGTH,
        evidence: [],
        ...(reason ? { reason } : {}),
      });
      const [d] = await this.repo.apply(c);
      const stored = d as StoredDecision;
      return { ...toWire(stored, now), until, created: now, ...(reason ? { reason } : {}), evidence: [] };
    });
  }

  /** Take a decision back. An automatic one stays away until its finding stops and starts again. */
  async remove(id: number): Promise<boolean> {
    return this.written(async () => {
      const set = await this.activeSet();
      const d = set.entries[set.indexOf(id)]?.d;
      if (!d) return false;
      const c = noChanges();
      c.remove.push(id);
      if (d.origin === 'kong-siem') c.suppress.set(d.value, d.since ?? 0);
      await this.repo.apply(c);
      return true;
    });
  }

  /** active decisions by origin and scenario, for the gauge */
  async counts(): Promise<Map<string, { origin: DecisionOrigin; scenario: string; n: number }>> {
    const now = this.wallNow();
    const out = new Map<string, { origin: DecisionOrigin; scenario: string; n: number }>();
    for (const { d } of (await this.activeSet()).entries) {
      if (d.until <= now) continue;
      const k = `${d.origin}|${d.scenario}`;
      const e = out.get(k);
      if (e) e.n++;
      else out.set(k, { origin: d.origin, scenario: d.scenario, n: 1 });
    }
    return out;
  }

  /** seconds since each configured bouncer's last pull (since this aggregator started when it never pulled) */
  async pullAges(): Promise<Map<string, number>> {
    const pulls = await this.repo.lastPulls();
    const now = this.wallNow();
    return new Map(this.bouncers.map((b) => [b, Math.max(0, now - (pulls.get(b) ?? this.started)) / 1000]));
  }
}

/** The IPv4 address records key IPv6 `text` by (SIIT ::ffff:0:a.b.c.d, NAT64 64:ff9b::a.b.c.d), when `single` and it carries one. */
function carriedIPv4(text: string, single: boolean): string | undefined {
  if (!single) return undefined;
  const k = ipKey(text.trim(), 128);
  return k !== undefined && isIPv4(k) ? k : undefined;
}

/** `scopes=ip,range` (case-insensitive); absent = both, as CrowdSec answers. */
function scopeFilter(scopes: string | undefined): (scope: string) => boolean {
  if (scopes === undefined || scopes.trim() === '') return () => true;
  const want = new Set(
    scopes
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => SCOPES.has(s) || s.length > 0),
  );
  return (scope) => want.has(scope.toLowerCase());
}
