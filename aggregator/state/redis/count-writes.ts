// The writes of one Redis batch (batch.ts pre-aggregates it, replay.ts
// decides what each key's history keeps): counts, indexes, credentials, top
// scores and the event clock, then the PEXPIREs that keep touched groups alive.
import { cutsAt, dropOnly, fieldsOf, finalKey, keyField, oldestOf, trimDue } from './grid-series';
import { META_TAG, credIpsKey, credMetaKey, ipHistPrefix, metaKeys, serviceLastKey } from './keys';
import type { Renewals } from './renewals';
import type { CredRec, CredWrite } from './replay';
import type { RecordKind } from '../../../common/record';
import { addCounts, type BucketCounts, type InGroup, type Svc } from './service';
import { OP_ARGS, type Writes } from './writes';
import type { Batch, CredBatch } from './batch';

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
