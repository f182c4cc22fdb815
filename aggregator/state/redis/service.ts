// A service as one aggregator knows it (id from the shared registry, settings,
// layout, key names), and how entities are read back from Redis.
import type { RecordKind } from '../../../common/record';
import type { DetectionSettings } from '../../../common/settings';
import { CREDENTIAL_RULES, IP_RULES } from '../../rules/registry';
import { NONE, OUT, type Run } from '../../rules/types';
import { STRIDE } from '../../window';
import { layoutOf, type Layout } from '../layout';
import type { RedisClient } from './client';
import { CHUNK, groupKeys, ipChunkKey, ipMetaKey, totalsKey, type GroupKeys, type Groups } from './keys';
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
  siemTopRefresh(topRequests: string, topErrors: string, chunkPrefix: string, from: number, to: number, ...ips: string[]): Promise<number>;
  siemExpireIps(seen: string, topRequests: string, topErrors: string, first: string, cutoff: number, max: number): Promise<number>;
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
  readonly layout: Layout;
  /** top candidates read per query (as the memory backend's TopCandidates) */
  readonly topCap: number;
  /** TTL of every key of the service: the longest window plus slack (wall time) */
  readonly ttlMs: number;
  readonly groups: Groups;
  /** the service's keys in each slot group, in group order */
  readonly inGroups: readonly InGroup[];
  /** the service's keys in the group of an entity */
  at(entity: string): InGroup;
  /** key of the service's totals in sub-bucket b */
  totals(b: number): string;
  /** sub-bucket ranges [back, till] of the service totals some rule reads (see IpRule.serviceWindows) */
  readonly totalsReach: number;
}

/** `bucketMs`: the service's grid as stored with its settings (state/grid.ts), else the one `s` asks for. */
export function describe(name: string, id: number, s: DetectionSettings, groups: Groups, bucketMs?: number): Svc {
  const layout = layoutOf(s, bucketMs);
  const bm = layout.bucketMs;
  const inGroups = groups.tags.map((tag): InGroup => {
    const keys = groupKeys(id, bm, tag);
    return {
      tag,
      keys,
      ipCands: IP_RULES.map((r) => keys.ipCands(r.type)),
      credCands: CREDENTIAL_RULES.map((r) => keys.credCands(r.type)),
    };
  });
  const byTag = new Map(inGroups.map((x) => [x.tag, x]));
  const totalsTag = groups.service(id);
  let totalsReach = 0;
  for (const rule of IP_RULES) for (const w of rule.serviceWindows) totalsReach = Math.max(totalsReach, layout.back[w] as number);
  return {
    name,
    id,
    settings: s,
    layout,
    topCap: Math.max(256, 4 * s.top_n),
    // Keys expire by Redis's wall clock; with SIEM_CLOCK=event the windows are
    // cut by bucket numbers anyway, so the slack only has to cover a replay
    // running slower than the events it replays.
    ttlMs: 2 * layout.longestMs + 60_000,
    groups,
    inGroups,
    at: (entity) => byTag.get(groups.of(id, entity)) as InGroup,
    totals: (b) => totalsKey(totalsTag, id, bm, b),
    totalsReach,
  };
}

/** An IP key read back: its series as window.ts wants it, newest ts, and the `since` of runs in progress by rule type. */
export interface IpView {
  series: number[];
  last: number;
  since: Record<string, string>;
}

/** The run of rule `type` before a batch: out unless a candidate, else its `since` or NONE. */
export function runBefore(v: IpView, type: string, candidate: boolean): Run {
  if (!candidate) return OUT;
  const since = v.since[type];
  return since === undefined ? NONE : Number(since);
}

/** requests, failures, successes, auth failures of one sub-bucket */
export type BucketCounts = [number, number, number, number];

export function addCounts(m: Map<number, BucketCounts>, b: number, k: RecordKind): void {
  let c = m.get(b);
  if (!c) m.set(b, (c = [0, 0, 0, 0]));
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

/**
 * [bucket -> [r, f, n, a]] as stored (n: answers neither failure nor
 * success, rare, so stored instead of successes: one HINCRBY less per
 * sub-bucket written) as a window.ts series [r, f, s, a], ascending by bucket.
 */
export function toSeries(byBucket: Map<number, BucketCounts>): number[] {
  const buckets = [...byBucket.keys()].sort((a, b) => a - b);
  const series = new Array<number>(buckets.length * STRIDE);
  buckets.forEach((b, i) => {
    const c = byBucket.get(b) as BucketCounts;
    series[i * STRIDE] = b;
    series[i * STRIDE + 1] = c[0];
    series[i * STRIDE + 2] = c[1];
    series[i * STRIDE + 3] = c[0] - c[1] - c[2];
    series[i * STRIDE + 4] = c[3];
  });
  return series;
}

/** field letter -> index in BucketCounts */
export const FIELD: Readonly<Record<string, number>> = { r: 0, f: 1, n: 2, a: 3 };

/** An IP key's chunk hashes (fields r<b>, f<b>, n<b>, a<b>), rule state and newest ts. */
/** One chunk field (r<b>, f<b>, n<b>, a<b>) into its sub-bucket's counts; any other field is skipped. */
export function addChunkField(byBucket: Map<number, BucketCounts>, f: string, value: string): void {
  const at = FIELD[f.charAt(0)];
  if (at === undefined) return;
  const b = Number(f.slice(1));
  let c = byBucket.get(b);
  if (!c) byBucket.set(b, (c = [0, 0, 0, 0]));
  c[at] = Number(value);
}

export function ipView(chunks: readonly Record<string, string>[], meta: Record<string, string>, newest: string | null): IpView {
  const byBucket = new Map<number, BucketCounts>();
  for (const h of chunks) for (const [f, val] of Object.entries(h)) addChunkField(byBucket, f, val);
  return { series: toSeries(byBucket), last: newest === null ? NONE : Number(newest), since: meta };
}

/** An IP key's history over sub-buckets [from, to], its newest ts and rule state. */
export async function readIp(r: RedisClient, svc: Svc, ip: string, from: number, to: number): Promise<IpView> {
  const span = CHUNK;
  const reads: Promise<Record<string, string>>[] = [];
  const g = svc.at(ip);
  for (let chunk = Math.floor(from / span); chunk <= Math.floor(to / span); chunk++)
    reads.push(r.hgetall(ipChunkKey(g.tag, svc.id, ip, svc.layout.bucketMs, chunk)));
  const [meta, score, ...chunks] = await Promise.all([
    r.hgetall(ipMetaKey(g.tag, svc.id, ip, svc.layout.bucketMs)),
    r.zscore(g.keys.seenIps, ip),
    ...reads,
  ]);
  return ipView(chunks as Record<string, string>[], meta as Record<string, string>, score as string | null);
}

/** The service's totals over sub-buckets [from, to] as a series (empty when no rule reads them). */
export async function readTotals(r: RedisClient, svc: Svc, from: number, to: number): Promise<number[]> {
  if (svc.totalsReach === 0) return [];
  const buckets: number[] = [];
  for (let b = from; b <= to; b++) buckets.push(b);
  const hashes = await Promise.all(buckets.map((b) => r.hgetall(svc.totals(b))));
  const byBucket = new Map<number, BucketCounts>();
  hashes.forEach((h, i) => {
    if (h.r !== undefined) byBucket.set(buckets[i] as number, [Number(h.r), Number(h.f ?? 0), Number(h.n ?? 0), Number(h.a ?? 0)]);
  });
  return toSeries(byBucket);
}
