// Step 3 of a Redis batch (see state.ts): each touched entity's records
// replayed in order over its state before the batch, the registry's rules
// stepped at each record's clock exactly as the in-memory backend steps them,
// and only what changed written back.
import type { RecordKind } from '../../../common/record';
import { CREDENTIAL_RULES, IP_RULES } from '../../rules/registry';
import { stepCredential, stepIp } from '../../rules/step';
import { NONE, OUT, type Run } from '../../rules/types';
import { addToSeries, pruneSeries } from '../../window';
import { mergeSeries } from '../level-grid';
import type { IpWrite } from './batch';
import { GridCounts, type TotalsAtRecord } from '../series-counts';
import { oldestOf } from './grid-series';
import { credMetaKey, ipMetaKey } from './keys';
import { runBefore, scored, type InGroup, type IpView, type Svc } from './service';
import type { Writes } from './writes';

/**
 * A batch's IP records, column by column, a record being its index: no
 * object and no boxed numbers per record for the collector to copy while the
 * batch waits on Redis (typed arrays' data lie outside the heap).
 */
export class IpRecs {
  /** ts as counted (not ahead of the clock), also a run's `since` */
  readonly cts: Float64Array;
  /** the clock at the record */
  readonly now: Float64Array;
  /** its grid key (level-grid.ts insertKey at `now`) */
  readonly key: Float64Array;
  readonly kind: RecordKind[];
  /** its place among its service's records in the batch (batch-totals.ts) */
  readonly place: Int32Array;
  #n = 0;
  constructor(capacity: number) {
    this.place = new Int32Array(capacity);
    this.cts = new Float64Array(capacity);
    this.now = new Float64Array(capacity);
    this.key = new Float64Array(capacity);
    this.kind = new Array<RecordKind>(capacity);
  }

  /** a record (at most `capacity`); returns its index */
  add(cts: number, now: number, kind: RecordKind, key: number): number {
    const i = this.#n++;
    this.cts[i] = cts;
    this.now[i] = now;
    this.key[i] = key;
    this.kind[i] = kind;
    return i;
  }
}

export interface CredRec {
  cts: number;
  ip: string;
  now: number;
}

const cx = new GridCounts();
/** the totals of a service whose rules read none */
const NO_TOTALS: readonly number[] = [];

/**
 * Replay an IP key's records over `v` (its state before the batch; `cand0`
 * its candidacy per IP rule) with its service's `totals` at each record (batch-totals.ts; undefined: no rule reads them); push the
 * writes of its rule state to `w`. Returns which of its records count on
 * which history (an expired key starts over, as in the memory backend).
 */
export function replayIp(
  w: Writes,
  svc: Svc,
  ip: string,
  t: IpRecs,
  recs: readonly number[],
  v: IpView,
  cand0: readonly boolean[],
  totals: TotalsAtRecord | undefined,
): IpWrite {
  const s = svc.settings;
  const L = svc.layout;
  let { last } = v;
  let series = [...v.series];
  // not indexed: expired or evicted, whatever its hash still holds
  const out: IpWrite = { from: 0, reset: last === NONE ? 0 : undefined, series: v.series };
  const runs: Run[] = IP_RULES.map((rule, i) => runBefore(v, rule.type, cand0[i] === true));
  for (let at = 0; at < recs.length; at++) {
    const r = recs[at] as number;
    const now = t.now[r] as number;
    const cts = t.cts[r] as number;
    const kind = t.kind[r] as RecordKind;
    if (last !== NONE && last <= now - L.longestMs) {
      // expired: the key starts over
      out.from = at;
      out.reset = now - L.longestMs;
      series = [];
      runs.fill(OUT);
    }
    if (last === NONE || cts > last) last = cts;
    // merged and pruned as the memory backend does at each record: sums are the same, the series stays short
    mergeSeries(series, now);
    addToSeries(series, t.key[r] as number, kind);
    const ranges = svc.ranges(now);
    pruneSeries(series, oldestOf(ranges));
    if (totals === undefined) cx.at(ranges, series, NO_TOTALS);
    else cx.atRecord(ranges, series, totals, r);
    for (let i = 0; i < IP_RULES.length; i++) {
      const rule = IP_RULES[i] as (typeof IP_RULES)[number];
      if (runs[i] === OUT && !rule.wakes(kind)) continue;
      // the run starts when the record was counted (cts), as on the memory backend
      runs[i] = stepIp(rule, runs[i] as Run, cx, s, cts);
    }
  }
  // most keys change no rule state: their group and meta key are not named
  let g: InGroup | undefined;
  let set: (string | number)[] | undefined;
  let del: string[] | undefined;
  let running = false;
  for (let i = 0; i < IP_RULES.length; i++) {
    const rule = IP_RULES[i] as (typeof IP_RULES)[number];
    const run = runs[i] as Run;
    running ||= run >= 0;
    const before = v.since[rule.type];
    const after = run >= 0 ? String(run) : undefined;
    if (before !== after) {
      if (after === undefined) (del ??= []).push(rule.type);
      else (set ??= []).push(rule.type, after);
    }
    const cand = run !== OUT;
    if (cand !== (cand0[i] === true)) {
      g ??= svc.at(ip);
      w.add(g.tag, cand ? 'SADD' : 'SREM', g.ipCands[i] as string, ip);
    }
  }
  // a run going on renews its key's TTL too: an attack lasting longer than the TTL keeps its since
  if (set === undefined && del === undefined && !running) return out;
  g ??= svc.at(ip);
  const key = ipMetaKey(g.tag, svc.id, ip);
  if (set !== undefined) w.add(g.tag, 'HSET', key, ...set);
  if (set !== undefined || running) w.add(g.tag, 'PEXPIRE', key, svc.ttlMs);
  if (del !== undefined) w.add(g.tag, 'HDEL', key, ...del);
  return out;
}

/**
 * An IP key no record of which can wake a rule (reads.ts: not a candidate,
 * and its top score below every rule's least count of requests): replayed
 * without its history, as replayIp would, for what it counts on (an expired
 * key starts over). `last`: its newest ts before the batch (NONE: not indexed).
 */
export function blindIp(svc: Svc, t: IpRecs, recs: readonly number[], last: number): IpWrite {
  const out: IpWrite = { from: 0, reset: last === NONE ? 0 : undefined, series: NO_SERIES, blind: last };
  const longest = svc.layout.longestMs;
  let newest = last;
  for (let at = 0; at < recs.length; at++) {
    const r = recs[at] as number;
    const now = t.now[r] as number;
    const cts = t.cts[r] as number;
    if (newest !== NONE && newest <= now - longest) {
      out.from = at;
      out.reset = now - longest;
    }
    if (newest === NONE || cts > newest) newest = cts;
  }
  return out;
}
const NO_SERIES: readonly number[] = Object.freeze([]);

/** The same for a credential, over its IP set and meta hash as they were before the batch. */
export function replayCred(
  w: Writes,
  svc: Svc,
  cred: string,
  recs: readonly CredRec[],
  flatIps: string[],
  flatMeta: Record<string, string>,
  credentialMaxIps: number,
): CredWrite {
  const s = svc.settings;
  const out: CredWrite = { from: 0, reset: undefined };
  const ips = scored(flatIps);
  const meta = flatMeta;
  let last = meta.L === undefined ? NONE : Number(meta.L);
  const before: Run[] = CREDENTIAL_RULES.map((rule) => (meta[rule.type] === undefined ? OUT : Number(meta[rule.type])));
  const runs = [...before];
  const cap = Math.max(credentialMaxIps, s.credential_min_ips);
  recs.forEach((rec, at) => {
    if (last !== NONE && last <= rec.now - svc.layout.longestMs) {
      // expired: the key starts over
      out.from = at;
      out.reset = rec.now - svc.layout.longestMs;
      ips.clear();
      runs.fill(OUT);
    }
    if (last === NONE || rec.cts > last) last = rec.cts;
    const prev = ips.get(rec.ip);
    ips.delete(rec.ip); // re-insert: Map order is order of last use
    ips.set(rec.ip, prev !== undefined && prev > rec.cts ? prev : rec.cts);
    if (ips.size > cap) ips.delete(ips.keys().next().value as string);
    const c = { ips, now: rec.now };
    CREDENTIAL_RULES.forEach((rule, i) => {
      runs[i] = stepCredential(rule, runs[i] as Run, c, s, rec.cts);
    });
  });
  const g = svc.at(cred);
  const key = credMetaKey(g.tag, svc.id, cred);
  CREDENTIAL_RULES.forEach((rule, i) => {
    const a = runs[i] as Run;
    const b = before[i] as Run;
    if (a === b) return;
    if (a === OUT) w.add(g.tag, 'HDEL', key, rule.type);
    else w.add(g.tag, 'HSET', key, rule.type, a);
    if ((a === OUT) !== (b === OUT)) w.add(g.tag, a === OUT ? 'SREM' : 'SADD', g.credCands[i] as string, cred);
  });
  return out;
}

/** What the replay found of a credential: its records from `from` on count; `reset`: its IP set is dropped first (expired then). */
export interface CredWrite {
  from: number;
  reset: number | undefined;
}
