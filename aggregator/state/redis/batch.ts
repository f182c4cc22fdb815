// One batch for the Redis backend: pre-aggregated in memory (each record's
// grid key, newest ts per credential IP, service totals), deciding late
// records and each record's clock as the in-memory state does. Its writes
// are count-writes.ts's.
import { classify, type RecordKind } from '../../../common/record';
import type { Clock } from '../../clock';
import { IP_RULES } from '../../rules/registry';
import type { KeyedRecord, OnReject } from '../state';
import { insertKey } from '../level-grid';
import { credIpsKey, credMetaKey } from './keys';
import { IpRecs, type CredRec } from './replay';
import { addCounts, type BucketCounts, type InGroup, type Scripts, type Svc } from './service';

export interface IpBatch {
  svc: Svc;
  ip: string;
  /** its key in Batch.ips (`<service id>|<IP key>`): renewals.ts names its hash by it */
  ik: string;
  /** its slot group (named once per batch: on a Cluster the name is hashed) */
  g: InGroup;
  last: number;
  /** its records: indexes into Batch.recs, in order */
  recs: number[];
  /** a record of it wakes a rule with no minRequests: its history is read */
  wakes: boolean;
  /** a record of it wakes only rules with a minRequests: its history is read when its top score allows (reads.ts) */
  floored: boolean;
  /** its candidacy per IP rule, as read (reads.ts; NO_CANDS until then and for most keys) */
  cands: readonly boolean[];
  /** what its replay found (state.ts): kept on the key, not in a Map per batch (fewer allocations) */
  write: IpWrite | undefined;
}

/** the candidacy of most keys: none (shared, never changed) */
export const NO_CANDS: readonly boolean[] = Object.freeze(IP_RULES.map(() => false));

/**
 * What the replay found of an IP key (replay.ts): the records from `from` on
 * are counted on its history as read (`series`, before them); `reset`: the
 * history is dropped first, when the key has none indexed (0) or expired at
 * a record (the expiry cut-off): only while Redis still agrees (writes.ts).
 */
export interface IpWrite {
  from: number;
  reset: number | undefined;
  series: readonly number[];
  /** not read (reads.ts): its newest ts before the batch, for the trim's cadence (Svc.blindTrimMs) */
  blind?: number;
}
export interface CredBatch {
  svc: Svc;
  cred: string;
  g: InGroup;
  last: number;
  recs: CredRec[];
}

export interface Batch {
  /** each IP key of the batch once, in order of first record */
  ips: IpBatch[];
  /** the records of the IP keys (IpBatch.recs) */
  recs: IpRecs;
  creds: Map<string, CredBatch>;
  totals: Map<Svc, Map<number, BucketCounts>>;
  /** per service the clock at its last record */
  svcNow: Map<Svc, number>;
  /** per service the clock at its first record */
  svcFrom: Map<Svc, number>;
  /** per service its records (indexes into recs), in order: its totals at each of them (batch-totals.ts) */
  svcRecs: Map<Svc, number[]>;
  accepted: number;
  late: number;
  future: number;
  overServices: number;
  /** newest ts seen (moves the shared event clock) */
  newest: number;
  /** the clock at the batch's last record */
  nowEnd: number;
  event: boolean;
}

/** IP rules without (with) a least count of requests (IpRule.minRequests) */
const UNFLOORED = IP_RULES.filter((rule) => rule.minRequests === undefined);
const FLOORED = IP_RULES.filter((rule) => rule.minRequests !== undefined);
/** per record kind (shared objects: common/record.ts classify) whether it wakes an UNFLOORED, a FLOORED rule: no closure per record */
const WAKES = new Map<RecordKind, readonly [boolean, boolean]>();
function wakesOf(kind: RecordKind): readonly [boolean, boolean] {
  let w = WAKES.get(kind);
  if (w === undefined) {
    w = [UNFLOORED.some((rule) => rule.wakes(kind)), FLOORED.some((rule) => rule.wakes(kind))];
    if (WAKES.size < 64) WAKES.set(kind, w);
  }
  return w;
}

export function preAggregate(
  records: readonly KeyedRecord[],
  svcs: ReadonlyMap<string, Svc>,
  clock: Clock,
  sharedNow: number,
  onReject?: OnReject,
): Batch {
  const event = clock.mode === 'event';
  const out: Batch = {
    ips: [],
    recs: new IpRecs(records.length),
    creds: new Map(),
    totals: new Map(),
    svcNow: new Map(),
    svcFrom: new Map(),
    svcRecs: new Map(),
    accepted: 0,
    late: 0,
    future: 0,
    overServices: 0,
    newest: 0,
    nowEnd: 0,
    event,
  };
  // per service its IP keys by name: looked up without a `<id>|<IP key>` string per record
  const bySvc = new Map<Svc, Map<string, IpBatch>>();
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as KeyedRecord;
    const svc = svcs.get(r.service);
    if (!svc) {
      out.overServices++;
      onReject?.('services', i);
      continue;
    }
    if (!clock.admit(r.ts)) {
      out.future++;
      onReject?.('future', i);
      continue;
    }
    if (r.ts > out.newest) out.newest = r.ts;
    const now = event ? Math.max(sharedNow, clock.now()) : clock.now();
    if (r.ts <= now - svc.layout.longestMs) {
      out.late++;
      onReject?.('late', i);
      continue;
    }
    const ts = r.ts > now ? now : r.ts;
    if (now > out.nowEnd) out.nowEnd = now;
    if (now > (out.svcNow.get(svc) ?? 0)) out.svcNow.set(svc, now);
    if (!out.svcFrom.has(svc)) out.svcFrom.set(svc, now);
    const kind = classify(r.status, r.outcome);
    // the memory backend's key for it: by its age at this clock, from the service's finest level
    const b = insertKey(ts, now, svc.finest);
    let ips = bySvc.get(svc);
    if (!ips) bySvc.set(svc, (ips = new Map()));
    let ib = ips.get(r.ipKey);
    const rec = out.recs.add(ts, now, kind, b);
    let sr = out.svcRecs.get(svc);
    if (!sr) out.svcRecs.set(svc, (sr = []));
    out.recs.place[rec] = sr.length;
    sr.push(rec);
    if (!ib) {
      // recs made with its first record: an empty array's first push reserves 16 slots, and most keys have one record
      const ik = `${svc.id}|${r.ipKey}`;
      ib = {
        svc,
        ip: r.ipKey,
        ik,
        g: svc.at(r.ipKey),
        last: ts,
        recs: [rec],
        wakes: false,
        floored: false,
        cands: NO_CANDS,
        write: undefined,
      };
      ips.set(r.ipKey, ib);
      out.ips.push(ib);
    } else {
      if (ts > ib.last) ib.last = ts;
      ib.recs.push(rec);
    }
    if (!ib.wakes) {
      const [u, f] = wakesOf(kind);
      ib.wakes = u;
      if (!ib.floored) ib.floored = f;
    }
    let t = out.totals.get(svc);
    if (!t) out.totals.set(svc, (t = new Map()));
    addCounts(t, b, kind);
    if (r.credential) {
      const ck = `${svc.id}|${r.credential}`;
      let cb = out.creds.get(ck);
      const crec: CredRec = { cts: ts, ip: r.ipKey, now };
      if (!cb) out.creds.set(ck, { svc, cred: r.credential, g: svc.at(r.credential), last: ts, recs: [crec] });
      else {
        if (ts > cb.last) cb.last = ts;
        cb.recs.push(crec);
      }
    }
    out.accepted++;
  }
  return out;
}

/** A credential as it is: its IP set (flat WITHSCORES) and meta hash. */
export async function readCred(r: Scripts, svc: Svc, cred: string): Promise<[string[], Record<string, string>]> {
  const tag = svc.at(cred).tag;
  return Promise.all([r.zrange(credIpsKey(tag, svc.id, cred), 0, -1, 'WITHSCORES'), r.hgetall(credMetaKey(tag, svc.id, cred))]);
}
