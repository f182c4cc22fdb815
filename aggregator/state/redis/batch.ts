// One batch for the Redis backend: pre-aggregated in memory (counts per IP
// key per sub-bucket, newest ts per credential IP, service totals), deciding
// late records and each record's clock as the in-memory state does; then the
// reads a replay needs, and the blind count writes.
import { classify } from '../../../common/record';
import type { Clock } from '../../clock';
import { IP_RULES } from '../../rules/registry';
import { STRIDE, bucketOf } from '../../window';
import type { KeyedRecord, OnReject } from '../state';
import { WINDOW } from '../layout';
import { CHUNK, META_TAG, credIpsKey, credMetaKey, ipChunkPrefix, metaKeys, serviceLastKey } from './keys';
import type { CredRec, IpRec } from './replay';
import { addCounts, type BucketCounts, type Scripts, type Svc } from './service';
import { OP_ARGS, type Writes } from './writes';

export interface IpBatch {
  svc: Svc;
  ip: string;
  buckets: Map<number, BucketCounts>;
  first: number;
  /** the oldest ts its index holds (read before the batch; Infinity when unknown) */
  storedFirst: number;
  last: number;
  recs: IpRec[];
  wakes: boolean;
}
export interface CredBatch {
  svc: Svc;
  cred: string;
  ips: Map<string, number>;
  last: number;
  recs: CredRec[];
}

export interface Batch {
  ips: Map<string, IpBatch>;
  creds: Map<string, CredBatch>;
  totals: Map<Svc, Map<number, BucketCounts>>;
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

export function preAggregate(
  records: readonly KeyedRecord[],
  svcs: ReadonlyMap<string, Svc>,
  clock: Clock,
  sharedNow: number,
  onReject?: OnReject,
): Batch {
  const event = clock.mode === 'event';
  const out: Batch = {
    ips: new Map(),
    creds: new Map(),
    totals: new Map(),
    accepted: 0,
    late: 0,
    future: 0,
    overServices: 0,
    newest: 0,
    nowEnd: 0,
    event,
  };
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
    const kind = classify(r.status, r.outcome);
    const b = bucketOf(ts, svc.layout.bucketMs);
    const ik = `${svc.id}|${r.ipKey}`;
    let ib = out.ips.get(ik);
    if (!ib)
      out.ips.set(
        ik,
        (ib = { svc, ip: r.ipKey, buckets: new Map(), first: ts, storedFirst: Number.POSITIVE_INFINITY, last: ts, recs: [], wakes: false }),
      );
    addCounts(ib.buckets, b, kind);
    if (ts > ib.last) ib.last = ts;
    if (ts < ib.first) ib.first = ts;
    ib.recs.push({ ts: r.ts, cts: ts, now, kind });
    if (!ib.wakes) ib.wakes = IP_RULES.some((rule) => rule.wakes(kind));
    let t = out.totals.get(svc);
    if (!t) out.totals.set(svc, (t = new Map()));
    addCounts(t, b, kind);
    if (r.credential) {
      const ck = `${svc.id}|${r.credential}`;
      let cb = out.creds.get(ck);
      if (!cb) out.creds.set(ck, (cb = { svc, cred: r.credential, ips: new Map(), last: ts, recs: [] }));
      const prev = cb.ips.get(r.ipKey);
      if (prev === undefined || ts > prev) cb.ips.set(r.ipKey, ts);
      if (ts > cb.last) cb.last = ts;
      cb.recs.push({ cts: ts, ip: r.ipKey, now });
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

/** A totals series with this batch's counts added (the totals as they will be after the batch). */
export function withBatch(series: readonly number[], add: Map<number, BucketCounts> | undefined, from: number): number[] {
  if (!add) return [...series];
  const by = new Map<number, BucketCounts>();
  for (let i = 0; i < series.length; i += STRIDE)
    by.set(series[i] as number, [series[i + 1] as number, series[i + 2] as number, series[i + 3] as number, series[i + 4] as number]);
  for (const [b, [req, f, s, a]] of add) {
    if (b < from) continue; // before the read range: no rule reads it
    const c = by.get(b) ?? [0, 0, 0, 0];
    by.set(b, [c[0] + req, c[1] + f, c[2] + s, c[3] + a]);
  }
  const out: number[] = [];
  for (const b of [...by.keys()].sort((x, y) => x - y)) {
    const c = by.get(b) as BucketCounts;
    out.push(b, c[0], c[1], c[2], c[3]);
  }
  return out;
}

/**
 * The blind writes: counts, indexes, top candidates, credential IP sets, the
 * event clock. Returns the groups touched per service (for keepAlive).
 */
export function writeCounts(w: Writes, b: Batch, credentialMaxIps: number): Map<Svc, Set<string>> {
  if (b.event && b.newest > 0) w.add(META_TAG, 'MAX', metaKeys.clock, b.newest);
  const touched = new Map<Svc, Set<string>>();
  const touch = (svc: Svc, tag: string) => {
    let t = touched.get(svc);
    if (!t) touched.set(svc, (t = new Set()));
    t.add(tag);
  };
  const newest = new Map<Svc, number>();
  for (const ib of b.ips.values()) if (ib.last > (newest.get(ib.svc) ?? 0)) newest.set(ib.svc, ib.last);
  for (const [svc, last] of newest) {
    const key = serviceLastKey(svc.groups.service(svc.id), svc.id);
    w.add(svc.groups.service(svc.id), 'MAX', key, last);
    w.add(svc.groups.service(svc.id), 'PEXPIRE', key, svc.ttlMs);
  }
  for (const [svc, t] of b.totals) {
    const tag = svc.groups.service(svc.id);
    for (const [bk, [req, fail, succ, auth]] of t) {
      const op: (string | number)[] = [svc.totals(bk), svc.ttlMs, 'r', req];
      if (fail) op.push('f', fail);
      const neither = req - fail - succ;
      if (neither) op.push('n', neither);
      if (auth) op.push('a', auth);
      w.add(tag, 'HINC', ...op);
    }
  }
  // per service and group: one IPS op (writes.ts APPLY)
  const sections = new Map<string, { tag: string; head: (string | number)[]; args: (string | number)[] }>();
  for (const ib of b.ips.values()) {
    const { svc } = ib;
    const g = svc.at(ib.ip);
    touch(svc, g.tag);
    const sk = `${svc.id}|${g.tag}`;
    let sec = sections.get(sk);
    if (!sec) {
      const k = g.keys;
      const head = [k.seenIps, k.firstIps, k.topRequests, k.topErrors, ipChunkPrefix(g.tag, svc.id, svc.layout.bucketMs), svc.ttlMs];
      sections.set(sk, (sec = { tag: g.tag, head, args: [] }));
    }
    let req = 0;
    let fail = 0;
    for (const c of ib.buckets.values()) {
      req += c[0];
      fail += c[1];
    }
    const a = sec.args;
    a.push(ib.ip, ib.last, ib.storedFirst <= ib.first ? '-' : ib.first, req, fail);
    // ascending, so that a chunk's sub-buckets come together
    const bks = [...ib.buckets.keys()].sort((x, y) => x - y);
    const chunksAt = a.length;
    a.push(0);
    let kAt = -1;
    let chunk = Number.NaN;
    for (const bk of bks) {
      const ch = Math.floor(bk / CHUNK);
      if (ch !== chunk) {
        chunk = ch;
        (a[chunksAt] as number)++;
        a.push(ch, 0);
        kAt = a.length - 1;
      }
      (a[kAt] as number)++;
      const c = ib.buckets.get(bk) as BucketCounts;
      a.push(bk, c[0], c[1], c[0] - c[1] - c[2], c[3]);
    }
  }
  for (const sec of sections.values()) w.addArgs(sec.tag, 'IPS', [...sec.head, sec.args.join('\t')]);
  for (const cb of b.creds.values()) {
    const { svc } = cb;
    const g = svc.at(cb.cred);
    touch(svc, g.tag);
    const ipsKey = credIpsKey(g.tag, svc.id, cb.cred);
    const metaKey = credMetaKey(g.tag, svc.id, cb.cred);
    const cap = Math.max(credentialMaxIps, svc.settings.credential_min_ips);
    let add: (string | number)[] = [];
    for (const [ip, ts] of cb.ips) {
      add.push(ts, ip);
      if (add.length >= OP_ARGS) {
        w.add(g.tag, 'ZADD', ipsKey, 'GT', ...add);
        add = [];
      }
    }
    if (add.length > 0) w.add(g.tag, 'ZADD', ipsKey, 'GT', ...add);
    w.add(g.tag, 'ZREMRANGEBYSCORE', ipsKey, '-inf', b.nowEnd - svc.layout.longestMs);
    w.add(g.tag, 'ZREMRANGEBYRANK', ipsKey, 0, -cap - 1);
    w.add(g.tag, 'HMAX', metaKey, 'L', cb.last);
    w.add(g.tag, 'PEXPIRE', ipsKey, svc.ttlMs);
    w.add(g.tag, 'PEXPIRE', metaKey, svc.ttlMs);
    w.add(g.tag, 'ZADD', g.keys.seenCreds, 'GT', cb.last, cb.cred);
  }
  return touched;
}

/**
 * The sub-buckets an IP key's top scores cover with the clock at `now`: its
 * window, and one sub-bucket past it for a writer whose clock is a little
 * ahead (writes.ts TOP_LUA).
 */
export function scoredBuckets(svc: Svc, now: number): [number, number] {
  const c = bucketOf(now, svc.layout.bucketMs);
  return [c - (svc.layout.back[WINDOW.window] as number) + 1, c + 1];
}

/** After every other write of the batch: keep the touched groups' indexes alive. */
export function keepAlive(w: Writes, touched: Map<Svc, Set<string>>): void {
  for (const [svc, tags] of touched) {
    for (const tag of tags) {
      const g = svc.inGroups.find((x) => x.tag === tag);
      if (!g) continue;
      for (const k of [
        g.keys.seenIps,
        g.keys.firstIps,
        g.keys.seenCreds,
        g.keys.topRequests,
        g.keys.topErrors,
        ...g.ipCands,
        ...g.credCands,
      ])
        w.add(tag, 'PEXPIRE', k, svc.ttlMs);
    }
  }
}
