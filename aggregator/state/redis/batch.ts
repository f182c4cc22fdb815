// One batch for the Redis backend: pre-aggregated in memory (each record's
// grid key, newest ts per credential IP, service totals), deciding late
// records and each record's clock as the in-memory state does; then the
// writes of counts, indexes and credentials.
import { classify, type RecordKind } from '../../../common/record';
import type { Clock } from '../../clock';
import { IP_RULES } from '../../rules/registry';
import { STRIDE } from '../../window';
import type { KeyedRecord, OnReject } from '../state';
import { insertKey } from '../level-grid';
import { cutsAt, dropOnly, fieldsOf, finalKey, keyField, oldestOf, trimDue } from './grid-series';
import { META_TAG, credIpsKey, credMetaKey, ipHistPrefix, metaKeys, serviceLastKey } from './keys';
import type { Renewals } from './renewals';
import { IpRecs, type CredRec, type CredWrite } from './replay';
import { addCounts, type BucketCounts, type InGroup, type Scripts, type Svc } from './service';
import { OP_ARGS, type Writes } from './writes';

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

/** A totals series with this batch's counts added (the totals as they will be after the batch). */
export function withBatch(series: readonly number[], add: Map<number, BucketCounts> | undefined): number[] {
  if (!add) return [...series];
  const by = new Map<number, BucketCounts>();
  for (let i = 0; i < series.length; i += STRIDE)
    by.set(series[i] as number, [series[i + 1] as number, series[i + 2] as number, series[i + 3] as number, series[i + 4] as number]);
  for (const [b, [req, f, s, a]] of add) {
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
 * The writes of counts: service totals, IP histories and credential IP sets
 * (from the records `writes` and `credWrites` say, dropped first where they
 * say so), indexes, top scores, the event clock; histories and totals trimmed (merged
 * up the grid by age, pruned to the longest window) where something is due.
 * `totals`: each service's totals as read before the batch. History hashes
 * are renewed where `renewals` says (listed in w.renewed, to be recorded
 * once the write ran). Returns the groups touched per service (for
 * keepAlive).
 */
export function writeCounts(
  w: Writes,
  b: Batch,
  credentialMaxIps: number,
  totals: ReadonlyMap<Svc, readonly number[]>,
  credWrites: ReadonlyMap<CredBatch, CredWrite>,
  renewals: Renewals,
): Map<Svc, Set<string>> {
  if (b.event && b.newest > 0) w.add(META_TAG, 'MAX', metaKeys.clock, b.newest);
  const touched = new Map<Svc, Set<string>>();
  const touch = (svc: Svc, tag: string) => {
    let t = touched.get(svc);
    if (!t) touched.set(svc, (t = new Set()));
    t.add(tag);
  };
  const newest = new Map<Svc, number>();
  for (const ib of b.ips) if (ib.last > (newest.get(ib.svc) ?? 0)) newest.set(ib.svc, ib.last);
  for (const [svc, last] of newest) {
    const key = serviceLastKey(svc.groups.service(svc.id), svc.id);
    w.add(svc.groups.service(svc.id), 'MAX', key, last);
    w.add(svc.groups.service(svc.id), 'PEXPIRE', key, svc.ttlMs);
  }
  for (const [svc, t] of b.totals) {
    const tag = svc.groups.service(svc.id);
    const op: (string | number)[] = [svc.totals, svc.ttlMs];
    // merged and pruned as the memory backend does at each record (its clock at the service's last one)
    const now = b.svcNow.get(svc) ?? b.nowEnd;
    const oldest = oldestOf(svc.ranges(now));
    const cuts = cutsAt(now);
    for (const [bk, [req, fail, succ, auth]] of onGridAt(t, cuts, oldest)) {
      const f = keyField(bk);
      op.push(`r${f}`, req);
      if (fail) op.push(`f${f}`, fail);
      const neither = req - fail - succ;
      if (neither) op.push(`n${f}`, neither);
      if (auth) op.push(`a${f}`, auth);
      if (op.length >= OP_ARGS) {
        w.addArgs(tag, 'HINC', op);
        op.length = 2;
      }
    }
    if (op.length > 2) w.addArgs(tag, 'HINC', op);
    const before = totals.get(svc);
    if (before && trimDue(before, cuts, oldest)) {
      const drop = dropOnly(before, cuts, oldest);
      if (drop === undefined) w.add(tag, 'TRIM', svc.totals, now, oldest);
      else for (let i = 0; i < drop.length; i += OP_ARGS / 4) w.add(tag, 'HDEL', svc.totals, ...fieldsOf(drop.slice(i, i + OP_ARGS / 4)));
    }
  }
  // per service and group: one IPS op (writes.ts APPLY), its entries one
  // tab-separated string, joined once from a list of tokens: built by
  // concatenation, its thousands of pieces were copied again when ioredis
  // measured and wrote it (joining an array per key cost about 3x as much)
  const sections = new Map<InGroup, { svc: Svc; s: (string | number)[]; resets: (string | number)[]; simple: (string | number)[] }>();
  const { wall } = w;
  for (const ib of b.ips) {
    const { svc, g, ik } = ib;
    touch(svc, g.tag);
    let sec = sections.get(g);
    if (!sec) sections.set(g, (sec = { svc, s: [], resets: [], simple: [] }));
    const iw = ib.write;
    const from = iw?.from ?? 0;
    const { recs } = b;
    const now = recs.now[ib.recs[ib.recs.length - 1] as number] as number;
    const oldest = svc.oldest(now);
    // each entry where the trim at the key's last clock puts it (merged up, or gone below the oldest key)
    const cuts = cutsAt(now);
    let req = 0;
    let fail = 0;
    // its one entry (one record: most keys, no map), else its entries by grid key
    let one: number | undefined;
    let byKey: Map<number, BucketCounts> | undefined;
    let oneKey = 0;
    let n = 0;
    // the field of the key's one entry when it is one success (no failure, no auth failure): most keys
    let plain: string | undefined;
    if (ib.recs.length - from === 1) {
      one = ib.recs[from] as number;
      const kind = recs.kind[one] as RecordKind;
      oneKey = finalKey(recs.key[one] as number, cuts);
      req = 1;
      fail = kind.failure ? 1 : 0;
      if (oneKey >= oldest) {
        n = 1;
        if (!kind.failure && kind.success && !kind.auth) plain = keyField(oneKey);
      }
    } else {
      byKey = new Map<number, BucketCounts>();
      for (let i = from; i < ib.recs.length; i++) {
        const r = ib.recs[i] as number;
        const kind = recs.kind[r] as RecordKind;
        const k = finalKey(recs.key[r] as number, cuts);
        if (k >= oldest) addCounts(byKey, k, kind);
        req++;
        if (kind.failure) fail++;
      }
      n = byKey.size;
    }
    // trim: none, at the key's clock (TRIM in the script), or the grid keys to drop
    let trim: 'none' | 'at' | number[] = 'none';
    if (iw?.blind !== undefined) {
      // not read: trimmed in the script (which reads the hash) once per Svc.blindTrimMs of its clock
      const p = svc.blindTrimMs;
      if (iw.reset === undefined && Math.floor(iw.blind / p) !== Math.floor(now / p)) trim = 'at';
    } else if (iw !== undefined && iw.reset === undefined && trimDue(iw.series, cuts, oldest)) {
      trim = dropOnly(iw.series, cuts, oldest) ?? 'at';
    }
    // its hash's TTL renewed by this aggregator once per eighth of it, not
    // at every write (renewals.ts); a key starting over is renewed
    const renew = iw === undefined || iw.reset !== undefined || renewals.due(ik, wall, svc.ttlMs - svc.ttlMs / RENEW_PARTS);
    if (renew) {
      w.renewed.push(ik);
      w.renewedTtl.push(svc.ttlMs);
    }
    if (iw?.reset !== undefined) sec.resets.push(ib.ip, iw.reset);
    if (plain !== undefined && !renew && trim === 'none' && iw?.reset === undefined)
      // three tokens instead of twelve: the script's parsing was a fifth of its work per key
      sec.simple.push(ib.ip, ib.last, plain);
    else {
      const t = sec.s;
      t.push(ib.ip, ib.last, renew ? '+' : '-', req, fail);
      if (trim === 'none') t.push('-');
      else if (trim === 'at') t.push(now, oldest);
      else {
        t.push('d', trim.length);
        for (const k of trim) t.push(keyField(k));
      }
      t.push(n);
      if (one !== undefined) {
        if (n === 1) {
          const kind = recs.kind[one] as RecordKind;
          t.push(keyField(oneKey), 1, fail, 1 - fail - (kind.success ? 1 : 0), kind.auth ? 1 : 0);
        }
      } else if (byKey !== undefined) for (const [bk, c] of byKey) t.push(keyField(bk), c[0], c[1], c[0] - c[1] - c[2], c[3]);
    }
  }
  for (const [g, { svc, s, resets, simple }] of sections) {
    const k = g.keys;
    const now = b.svcNow.get(svc) ?? b.nowEnd;
    w.addArgs(g.tag, 'IPS', [
      k.seenIps,
      k.topRequests,
      k.topErrors,
      ipHistPrefix(g.tag, svc.id),
      svc.ttlMs,
      s.join('\t'),
      resets.join('\t'),
      k.topWindow,
      svc.windowMs,
      now,
      simple.join('\t'),
    ]);
  }
  // per service and group: one CREDS op (writes.ts APPLY), the names as
  // arguments (a credential may hold any character) and everything else as
  // one tab-separated string: about 35 arguments per credential were most of
  // the aggregator's encoding cost
  const credSections = new Map<InGroup, { svc: Svc; s: string; names: string[] }>();
  for (const cb of b.creds.values()) {
    const { svc, g } = cb;
    touch(svc, g.tag);
    let sec = credSections.get(g);
    if (!sec) credSections.set(g, (sec = { svc, s: '', names: [] }));
    const cw = credWrites.get(cb);
    const ips = new Map<string, number>();
    for (let i = cw?.from ?? 0; i < cb.recs.length; i++) {
      const rec = cb.recs[i] as CredRec;
      if ((ips.get(rec.ip) ?? Number.NEGATIVE_INFINITY) < rec.cts) ips.set(rec.ip, rec.cts);
    }
    // expired at a record of the batch: its IP set starts over there (while Redis still agrees)
    let e = `${sec.s === '' ? '' : '\t'}${cw?.reset ?? '-'}\t${cb.last}\t${ips.size}`;
    for (const [ip, ts] of ips) e += `\t${ts}\t${ip}`;
    sec.s += e;
    sec.names.push(cb.cred);
  }
  for (const [g, { svc, s, names }] of credSections) {
    const cap = Math.max(credentialMaxIps, svc.settings.credential_min_ips);
    w.addArgs(g.tag, 'CREDS', [
      g.keys.seenCreds,
      credIpsKey(g.tag, svc.id, ''),
      credMetaKey(g.tag, svc.id, ''),
      svc.ttlMs,
      cap,
      s,
      ...names,
    ]);
  }
  return touched;
}

/**
 * An IP history hash's TTL (Svc.ttlMs) is renewed by a write when its
 * aggregator has not renewed it for ttlMs / RENEW_PARTS (renewals.ts): a
 * hash outlives its key's last write by at least 7/8 of its TTL (2 x the
 * longest window + 60 s), more than the longest window the key lives
 * without a record.
 */
export const RENEW_PARTS = 8;

/** Counts by grid key as the trim at the clock of `cuts` (cutsAt) leaves them: merged up by age, none below `oldest`. */
function onGridAt(t: ReadonlyMap<number, BucketCounts>, cuts: readonly number[], oldest: number): Map<number, BucketCounts> {
  const out = new Map<number, BucketCounts>();
  for (const [key, [req, fail, succ, auth]] of t) {
    const k = finalKey(key, cuts);
    if (k < oldest) continue;
    const c = out.get(k);
    if (c) {
      c[0] += req;
      c[1] += fail;
      c[2] += succ;
      c[3] += auth;
    } else out.set(k, [req, fail, succ, auth]);
  }
  return out;
}

/** After every other write of the batch: keep the touched groups' indexes alive. */
export function keepAlive(w: Writes, touched: Map<Svc, Set<string>>): void {
  for (const [svc, tags] of touched) {
    for (const tag of tags) {
      const g = svc.inGroups.find((x) => x.tag === tag);
      if (!g) continue;
      const k0 = g.keys;
      for (const k of [k0.seenIps, k0.seenCreds, k0.topRequests, k0.topErrors, k0.topWindow, ...g.ipCands, ...g.credCands])
        w.add(tag, 'PEXPIRE', k, svc.ttlMs);
    }
  }
}
