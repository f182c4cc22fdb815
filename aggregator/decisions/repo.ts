// Where decisions live: this process (MemoryDecisionRepo) or a Redis shared
// by every aggregator (RedisDecisionRepo). Both keep the same things: the
// active decisions, a change sequence (ids are sequence numbers too), the
// tombstones of removed decisions for incremental pulls, each bouncer key and address's
// stream position and last pull, and the operator's suppressions. Both keep
// a bounded change log too (which ids changed at which version), so that a
// reader holding the set of some version fetches only what changed since.
import type { Changes, NewDecision } from './reconcile';
import type { StoredDecision, Tombstone } from './model';
import { planStreams } from './streams';

/** Which active set a reader holds: the store's version and epoch (a store that lost its data starts a new epoch). */
export interface SetVersion {
  version: number;
  epoch: string;
}

/** What changed since a reader's version: every active decision when the log no longer reaches back that far. */
export interface Delta extends SetVersion {
  /** the whole active set (no version given, another epoch, or the log trimmed past it) */
  full?: StoredDecision[];
  /** decisions added or changed since (without `full`) */
  upserts: StoredDecision[];
  /** ids removed since (without `full`) */
  removed: number[];
}

/** Everything a stream pull needs besides the active set, read at one sequence number. */
export interface StreamView extends SetVersion {
  seq: number;
  /** tombstones with seq > the position asked for */
  removed: Tombstone[];
}

export interface DecisionRepo {
  /** run `fn` as the only writer (across aggregators, for Redis) */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Whether this aggregator takes the reconcile round of the next `ms`: on a
   * shared store the first to ask does, and the others skip theirs, so Redis
   * reads the findings once per round whatever the number of aggregators.
   */
  claimRound(ms: number): Promise<boolean>;
  active(): Promise<StoredDecision[]>;
  suppressed(): Promise<Map<string, number>>;
  /** apply atomically; returns the added decisions with their ids */
  apply(c: Changes): Promise<StoredDecision[]>;
  /** what changed since `since` (see Delta) */
  changes(since: SetVersion | undefined): Promise<Delta>;
  view(since: number | undefined): Promise<StreamView>;
  /** the position of a stream (streams.ts: a key's short id and the puller's address) */
  position(stream: string): Promise<number | undefined>;
  /** record a pull: the stream's position, and the wall-clock time for its key; a new stream past its key's cap trims the key's streams (planStreams) */
  pulled(stream: string, bouncer: string, seq: number, at: number): Promise<void>;
  /** last pull per key */
  lastPulls(): Promise<Map<string, number>>;
  /** forget tombstones every stream of the keys in `bouncers` has pulled past, and any beyond `keep`; trim the streams (planStreams) */
  prune(bouncers: readonly string[], keep: number): Promise<void>;
  close(): Promise<void>;
}

/** What SIEM_STATE_FILE keeps of an in-memory repo. */
export interface RepoSnapshot {
  seq: number;
  active: StoredDecision[];
  tombstones: Tombstone[];
  positions: [string, number][];
  pulls: [string, number][];
  suppressed: [string, number][];
}

/** ids kept in the change log by default (a reader further behind reads the whole set) */
export const DEFAULT_LOG_KEEP = 20_000;

export class MemoryDecisionRepo implements DecisionRepo {
  private seq = 0;
  private ver = 0;
  /** this process's store: readers of another repo object never take its deltas */
  readonly epoch = `m${Math.random().toString(36).slice(2)}`;
  /** ids changed at each version, oldest first; versions up to logFloor are forgotten */
  private log: { ver: number; ids: number[] }[] = [];
  private logIds = 0;
  private logFloor = 0;
  private readonly byId = new Map<number, StoredDecision>();
  /** ascending seq */
  private tombs: Tombstone[] = [];
  private readonly positions = new Map<string, number>();
  private readonly pulls = new Map<string, number>();
  private readonly supp = new Map<string, number>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly logKeep = DEFAULT_LOG_KEEP) {}

  /** one aggregator per store: every round is its own */
  async claimRound(): Promise<boolean> {
    return true;
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
  async active(): Promise<StoredDecision[]> {
    return [...this.byId.values()];
  }
  async suppressed(): Promise<Map<string, number>> {
    return new Map(this.supp);
  }
  async apply(c: Changes): Promise<StoredDecision[]> {
    const changed: number[] = [];
    for (const id of c.remove) {
      const d = this.byId.get(id);
      if (!d) continue;
      this.byId.delete(id);
      this.tombs.push({ seq: ++this.seq, id, scope: d.scope, value: d.value, scenario: d.scenario, origin: d.origin });
      changed.push(id);
    }
    for (const u of c.update) {
      if (!this.byId.has(u.id)) continue;
      this.byId.set(u.id, u);
      changed.push(u.id);
    }
    const added = c.add.map((n: NewDecision) => ({ ...n, id: ++this.seq }));
    for (const d of added) {
      this.byId.set(d.id, d);
      changed.push(d.id);
    }
    for (const [v, s] of c.suppress) this.supp.set(v, s);
    for (const v of c.unsuppress) this.supp.delete(v);
    this.ver++;
    this.logChanges(changed);
    return added;
  }
  private logChanges(ids: number[]): void {
    if (ids.length) this.log.push({ ver: this.ver, ids });
    this.logIds += ids.length;
    while (this.logIds > this.logKeep && this.log.length) {
      const old = this.log.shift() as { ver: number; ids: number[] };
      this.logIds -= old.ids.length;
      this.logFloor = old.ver;
    }
  }
  async changes(since: SetVersion | undefined): Promise<Delta> {
    const at = { version: this.ver, epoch: this.epoch };
    if (since === undefined || since.epoch !== this.epoch || since.version < this.logFloor || since.version > this.ver)
      return { ...at, full: [...this.byId.values()], upserts: [], removed: [] };
    const ids = new Set<number>();
    for (let i = this.log.length - 1; i >= 0 && (this.log[i] as { ver: number }).ver > since.version; i--)
      for (const id of (this.log[i] as { ids: number[] }).ids) ids.add(id);
    const upserts: StoredDecision[] = [];
    const removed: number[] = [];
    for (const id of ids) {
      const d = this.byId.get(id);
      if (d) upserts.push(d);
      else removed.push(id);
    }
    return { ...at, upserts, removed };
  }
  async view(since: number | undefined): Promise<StreamView> {
    const removed = since === undefined ? [] : this.tombs.slice(firstAfter(this.tombs, since));
    return { seq: this.seq, version: this.ver, epoch: this.epoch, removed };
  }
  async position(stream: string): Promise<number | undefined> {
    return this.positions.get(stream);
  }
  async pulled(stream: string, bouncer: string, seq: number, at: number): Promise<void> {
    const fresh = !this.positions.has(stream);
    this.positions.set(stream, seq);
    this.pulls.set(bouncer, at);
    // a new address may take its key past the cap: trimmed now, not at the next round
    if (fresh) for (const s of planStreams(this.positions, []).drop) this.positions.delete(s);
  }
  async lastPulls(): Promise<Map<string, number>> {
    return new Map(this.pulls);
  }
  async prune(bouncers: readonly string[], keep: number): Promise<void> {
    const plan = planStreams(this.positions, bouncers);
    for (const s of plan.drop) this.positions.delete(s);
    let from = firstAfter(this.tombs, plan.floor ?? this.seq);
    from = Math.max(from, this.tombs.length - keep);
    if (from > 0) this.tombs = this.tombs.slice(from);
  }
  async close(): Promise<void> {}

  snapshot(): RepoSnapshot {
    return {
      seq: this.seq,
      active: [...this.byId.values()],
      tombstones: this.tombs,
      positions: [...this.positions],
      pulls: [...this.pulls],
      suppressed: [...this.supp],
    };
  }
  restore(s: RepoSnapshot): void {
    this.seq = s.seq;
    this.ver++;
    // readers of the set before the restore read it whole again
    this.log = [];
    this.logIds = 0;
    this.logFloor = this.ver;
    this.byId.clear();
    for (const d of s.active) this.byId.set(d.id, d);
    this.tombs = s.tombstones.slice().sort((a, b) => a.seq - b.seq);
    this.positions.clear();
    for (const [k, v] of s.positions) this.positions.set(k, v);
    this.pulls.clear();
    for (const [k, v] of s.pulls) this.pulls.set(k, v);
    this.supp.clear();
    for (const [k, v] of s.suppressed) this.supp.set(k, v);
  }
}

/** index of the first tombstone with seq > `since` (tombstones ascend) */
function firstAfter(tombs: readonly Tombstone[], since: number): number {
  let lo = 0;
  let hi = tombs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((tombs[mid] as Tombstone).seq <= since) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
