// A service as one aggregator knows it (id from the shared registry, settings,
// windows on the one grid, key names), and how entities are read back from Redis.
import type { RecordKind } from '../../../common/record';
import type { DetectionSettings } from '../../../common/settings';
import { CREDENTIAL_RULES, IP_RULES } from '../../rules/registry';
import { NONE, OUT, type Run } from '../../rules/types';
import { gridLayoutOf, type GridLayout } from '../layout';
import { MERGE_AFTER_MS } from '../level-grid';
import type { RedisClient } from './client';
import { windowRanges } from '../series-counts';
import { oldestOf, seriesOfFields } from './grid-series';
import { groupKeys, ipHistKey, ipMetaKey, totalsKey, type GroupKeys, type Groups } from './keys';
import type { ReadScript } from './reads';
import type { ApplyScript } from './writes';

export type Scripts = RedisClient & {
  siemApply: ApplyScript;
  siemRead: ReadScript;
  /** keys: SETTINGS_SCRIPT_KEYS, the id counter */
  siemRegister(...keysAndArgs: (string | number)[]): Promise<[number[], string[]]>;
  /** keys: SETTINGS_SCRIPT_KEYS */
  siemUnregister(...keysAndArgs: (string | number)[]): Promise<number>;
  siemSettings(...keysAndArgs: (string | number)[]): Promise<number[]>;
  /** evict.ts EVICT (EVICT_KEYS keys): keys, then member, its score, DEL and ZREM key counts */
  siemEvictIp(...keysAndArgs: (string | number)[]): Promise<number>;
  siemEvictCred(...keysAndArgs: (string | number)[]): Promise<number>;
  /** writes.ts TOP_REFRESH */
  siemTopRefresh(
    topRequests: string,
    topErrors: string,
    topWindow: string,
    histPrefix: string,
    from: number,
    windowMs: number,
    now: number,
    ...ips: string[]
  ): Promise<number>;
  siemExpireIps(seen: string, topRequests: string, topErrors: string, cutoff: number, max: number, histPrefix: string): Promise<number>;
  /** sweep-step.ts SWEEP_READ: keys seen index, rule-state hash, data; args member, 'h' | 'z' */
  siemSweepRead(seen: string, meta: string, data: string, member: string, kind: 'h' | 'z'): Promise<[string | null, string[], string[]]>;
  /** sweep-step.ts SWEEP_STEP: keys seen index, candidate set, rule-state hash; args member, rule type, newest ts read, field read, leave (1/0), run ('' deletes) */
  siemSweepStep(
    seen: string,
    cands: string,
    meta: string,
    member: string,
    type: string,
    read: number,
    field: string,
    leave: 0 | 1,
    run: string,
  ): Promise<number>;
};

/** A service's keys in one slot group, with its per-rule candidate sets. */
export interface InGroup {
  readonly tag: string;
  readonly keys: GroupKeys;
  /** per IP rule, its candidate set's key */
  readonly ipCands: readonly string[];
  /** per credential rule, its candidate set's key */
  readonly credCands: readonly string[];
}

export interface Svc {
  readonly name: string;
  readonly id: number;
  readonly settings: DetectionSettings;
  /** its windows on the one grid (level-grid.ts) */
  readonly layout: GridLayout;
  /** the finest level any window reads: records are counted from it up (level-grid.ts insertKey, as the memory backend) */
  readonly finest: number;
  /** top candidates read per query (as the memory backend's TopCandidates) */
  readonly topCap: number;
  /** TTL of every key of the service: the longest window plus slack (wall time) */
  readonly ttlMs: number;
  readonly groups: Groups;
  /** the service's keys in each slot group, in group order */
  readonly inGroups: readonly InGroup[];
  /** the service's keys in the group of an entity */
  at(entity: string): InGroup;
  /** key of the service's totals (in its group) */
  readonly totals: string;
  /** whether some rule reads the service's totals (see IpRule.serviceWindows) */
  readonly readsTotals: boolean;
  /** the least of the IP rules' minRequests (IpRule.minRequests; Infinity: none has one) */
  readonly floor: number;
  /** WINDOW.window's length, ms: the top scores' window */
  readonly windowMs: number;
  /**
   * An IP key written without its history read (reads.ts) is trimmed (by
   * the write script, which reads its hash) when its clock entered another
   * such period since its newest record: a tenth of how long its finest
   * entries stay before a trim changes them (their merge age, or the
   * longest window), at least 10 s. Its hash then holds at most a tenth
   * more than a trim leaves (bounded by the grid, as ever), and a key
   * written every few seconds is trimmed at one write in many.
   */
  readonly blindTrimMs: number;
  /** per WindowId its key range at clock `now` (grid-series.ts windowRanges; the last RANGES_KEPT clocks' kept; not to be changed) */
  ranges(now: number): Float64Array;
  /** the oldest key any window reads at clock `now` (grid-series.ts oldestOf; kept per clock, up to 1024) */
  oldest(now: number): number;
}

/** Clocks whose window ranges a service keeps (Svc.ranges): a batch's spans about a hundred. */
const RANGES_KEPT = 256;

export function describe(name: string, id: number, s: DetectionSettings, groups: Groups): Svc {
  const layout = gridLayoutOf(s);
  const finest = Math.min(...layout.windows.map((wl) => wl.level));
  const inGroups = groups.tags.map((tag): InGroup => {
    const keys = groupKeys(id, tag);
    return {
      tag,
      keys,
      ipCands: IP_RULES.map((r) => keys.ipCands(r.type)),
      credCands: CREDENTIAL_RULES.map((r) => keys.credCands(r.type)),
    };
  });
  const byTag = new Map(inGroups.map((x) => [x.tag, x]));
  // the ranges of the last RANGES_KEPT clocks: a batch's hot keys are
  // replayed one after the other, each over the same few hundred clocks, and
  // computing them at each record made a Float64Array per record. Kept per
  // clock up to 1024 they raised the peak RSS of one 50,000-record batch
  // from ~210 to ~260 MB (bench case 10); RANGES_KEPT hold a few kB.
  let rangesAt = Number.NaN;
  let ranges: Float64Array = new Float64Array(0);
  const rangesKept = new Map<number, Float64Array>();
  const rangesOf = (now: number): Float64Array => {
    if (now !== rangesAt) {
      let r = rangesKept.get(now);
      if (r === undefined) {
        if (rangesKept.size >= RANGES_KEPT) rangesKept.clear();
        rangesKept.set(now, (r = windowRanges(layout, now)));
      }
      ranges = r;
      rangesAt = now;
    }
    return ranges;
  };
  // a batch's keys have their own clocks (each its last record's): a number per clock, not its ranges
  const oldestKept = new Map<number, number>();
  return {
    name,
    id,
    settings: s,
    layout,
    finest,
    topCap: Math.max(256, 4 * s.top_n),
    // Keys expire by Redis's wall clock; with SIEM_CLOCK=event the windows are
    // cut by key ranges anyway, so the slack only has to cover a replay
    // running slower than the events it replays.
    ttlMs: 2 * layout.longestMs + 60_000,
    groups,
    inGroups,
    at: (entity) => byTag.get(groups.of(id, entity)) as InGroup,
    totals: totalsKey(groups.service(id), id),
    readsTotals: IP_RULES.some((rule) => rule.serviceWindows.length > 0),
    floor: Math.min(...IP_RULES.map((rule) => rule.minRequests?.(s) ?? Number.POSITIVE_INFINITY)),
    windowMs: s.window_seconds * 1000,
    blindTrimMs: Math.max(10_000, Math.min(MERGE_AFTER_MS[finest] ?? layout.longestMs, layout.longestMs) / 10),
    ranges: rangesOf,
    oldest(now) {
      let o = oldestKept.get(now);
      if (o === undefined) {
        if (oldestKept.size >= 1024) oldestKept.clear();
        oldestKept.set(now, (o = oldestOf(rangesOf(now))));
      }
      return o;
    },
  };
}

/** An IP key read back: its series on the grid, newest ts, and the `since` of runs in progress by rule type. */
export interface IpView {
  series: number[];
  last: number;
  since: Readonly<Record<string, string>>;
}

/** The run of rule `type` before a batch: out unless a candidate, else its `since` or NONE. */
export function runBefore(v: IpView, type: string, candidate: boolean): Run {
  if (!candidate) return OUT;
  const since = v.since[type];
  return since === undefined ? NONE : Number(since);
}

/** requests, failures, successes, auth failures of one grid entry */
export type BucketCounts = [number, number, number, number];

export function addCounts(m: Map<number, BucketCounts>, key: number, k: RecordKind): void {
  let c = m.get(key);
  if (!c) m.set(key, (c = [0, 0, 0, 0]));
  c[0]++;
  if (k.failure) c[1]++;
  if (k.success) c[2]++;
  if (k.auth) c[3]++;
}

export function pairs(flat: readonly string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i] as string] = flat[i + 1] as string;
  return o;
}

/** A sorted-set reply WITHSCORES as a Map, in its order. */
export function scored(flat: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (let j = 0; j + 1 < flat.length; j += 2) m.set(flat[j] as string, Number(flat[j + 1]));
  return m;
}

/** An IP key's view: its history hash's fields (flat), rule state and newest ts. */
export function ipView(fields: readonly string[], meta: Record<string, string>, newest: string | null): IpView {
  return { series: newest === null ? [] : seriesOfFields(fields), last: newest === null ? NONE : Number(newest), since: meta };
}

/**
 * An IP key's history, its newest ts and rule state (no history when it is
 * not indexed: expired or evicted), read in one script: a batch landing
 * between separate reads would mix two states (sweep-step.ts).
 */
export async function readIp(r: Scripts, svc: Svc, ip: string): Promise<IpView> {
  const g = svc.at(ip);
  const [score, meta, fields] = await r.siemSweepRead(g.keys.seenIps, ipMetaKey(g.tag, svc.id, ip), ipHistKey(g.tag, svc.id, ip), ip, 'h');
  return ipView(fields, pairs(meta), score);
}

/** The service's totals as a series on the grid (empty when no rule reads them and `always` is not set). */
export async function readTotals(r: RedisClient, svc: Svc, always = false): Promise<number[]> {
  if (!svc.readsTotals && !always) return [];
  return seriesOfFields(Object.entries(await r.hgetall(svc.totals)).flat());
}
