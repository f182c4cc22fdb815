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
import { CHUNK, META_TAG, credIpsKey, credMetaKey, ipChunkKey, ipChunkPrefix, metaKeys, serviceLastKey } from './keys';
import type { CredRec, IpRec } from './replay';
import { addCounts, type BucketCounts, type Scripts, type Svc } from './service';
import type { Writes } from './writes';

export interface IpBatch {
  svc: Svc;
  ip: string;
  buckets: Map<number, BucketCounts>;
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
    if (!ib) out.ips.set(ik, (ib = { svc, ip: r.ipKey, buckets: new Map(), last: ts, recs: [], wakes: false }));
    addCounts(ib.buckets, b, kind);
    if (ts > ib.last) ib.last = ts;
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

/** Per IP key of the batch, whether it is a candidate of each IP rule (one SMISMEMBER per service, group and rule). */
export async function candidacy(r: Scripts, ips: Iterable<IpBatch>): Promise<Map<IpBatch, boolean[]>> {
  const byGroup = new Map<string, { svc: Svc; tag: string; list: IpBatch[] }>();
  for (const ib of ips) {
    const g = ib.svc.at(ib.ip);
    const k = `${ib.svc.id}|${g.tag}`;
    let e = byGroup.get(k);
    if (!e) byGroup.set(k, (e = { svc: ib.svc, tag: g.tag, list: [] }));
    e.list.push(ib);
  }
  const out = new Map<IpBatch, boolean[]>();
  await Promise.all(
    [...byGroup.values()].map(async ({ svc, list }) => {
      const g = svc.at((list[0] as IpBatch).ip);
      const names = list.map((ib) => ib.ip);
      const answers = await Promise.all(g.ipCands.map((key) => r.smismember(key, ...names)));
      list.forEach((ib, j) =>
        out.set(
          ib,
          answers.map((a) => a[j] === 1),
        ),
      );
    }),
  );
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
    for (const [bk, [req, fail, succ, auth]] of t) w.add(tag, 'HINC', svc.totals(bk), svc.ttlMs, 'r', req, 'f', fail, 's', succ, 'a', auth);
  }
  for (const ib of b.ips.values()) {
    const { svc } = ib;
    const L = svc.layout;
    const g = svc.at(ib.ip);
    touch(svc, g.tag);
    const byChunk = new Map<number, (string | number)[]>();
    for (const [bk, [req, fail, succ, auth]] of ib.buckets) {
      const chunk = Math.floor(bk / CHUNK);
      let op = byChunk.get(chunk);
      if (!op) byChunk.set(chunk, (op = ['HINC', ipChunkKey(g.tag, svc.id, ib.ip, L.bucketMs, chunk), svc.ttlMs]));
      op.push(`r${bk}`, req);
      if (fail) op.push(`f${bk}`, fail);
      if (succ) op.push(`s${bk}`, succ);
      if (auth) op.push(`a${bk}`, auth);
    }
    for (const op of byChunk.values()) w.add(g.tag, ...op);
    const [from, to] = scoredBuckets(svc, b.nowEnd);
    w.add(
      g.tag,
      'SEEN',
      g.keys.seenIps,
      ib.ip,
      ib.last,
      ipChunkPrefix(g.tag, svc.id, L.bucketMs),
      `:${ib.ip}`,
      from,
      to,
      g.keys.topRequests,
      g.keys.topErrors,
    );
  }
  for (const cb of b.creds.values()) {
    const { svc } = cb;
    const g = svc.at(cb.cred);
    touch(svc, g.tag);
    const ipsKey = credIpsKey(g.tag, svc.id, cb.cred);
    const metaKey = credMetaKey(g.tag, svc.id, cb.cred);
    const cap = Math.max(credentialMaxIps, svc.settings.credential_min_ips);
    const add: (string | number)[] = [];
    for (const [ip, ts] of cb.ips) add.push(ts, ip);
    w.add(g.tag, 'ZADD', ipsKey, 'GT', ...add);
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
      for (const k of [g.keys.seenIps, g.keys.seenCreds, g.keys.topRequests, g.keys.topErrors, ...g.ipCands, ...g.credCands])
        w.add(tag, 'PEXPIRE', k, svc.ttlMs);
    }
  }
}
