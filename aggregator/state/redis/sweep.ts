// Housekeeping of the Redis backend, by one aggregator per interval: expiry of
// the indexes, every candidate stepped at the clock (rules/step.ts), fresh top
// scores. Eviction at SIEM_MAX_KEYS is in evict.ts.
import { CREDENTIAL_RULES, IP_RULES } from '../../rules/registry';
import { stepCredential, stepIp } from '../../rules/step';
import { NONE, OUT, type Run } from '../../rules/types';
import { candidatesOf, inParts } from './candidates';
import { heldKeys } from './evict';
import { GridCounts } from '../series-counts';
import { WINDOW } from '../layout';
import { credIpsKey, credMetaKey, ipHistPrefix, ipMetaKey, serviceLastKey, type GroupKeys } from './keys';
import { pairs, readIp, readTotals, runBefore, scored, type InGroup, type IpView, type Scripts, type Svc } from './service';

/** IP keys re-scored per script, expired per script: one script never holds Redis long */
const REFRESH_PER_CALL = 500;
const EXPIRE_PER_CALL = 10_000;

/**
 * `refreshTop`: score the best-scored top candidates afresh. Scores only
 * grow between refreshes, and go stale only as the window slides, so the
 * caller asks for it once the window has moved by a tenth of itself
 * (state.ts): re-scoring every second cost Redis a quarter of a core at rest.
 */
export async function sweepService(r: Scripts, svc: Svc, now: number, refreshTop: boolean): Promise<void> {
  const totals = await readTotals(r, svc);
  await Promise.all(svc.inGroups.map((g) => sweepGroup(r, svc, g, now, totals, refreshTop)));
}

async function sweepGroup(r: Scripts, svc: Svc, g: InGroup, now: number, totals: number[], refreshTop: boolean): Promise<void> {
  const s = svc.settings;
  const k = g.keys;
  const L = svc.layout;
  // Writes are awaited at the end; if a read in between fails first (Redis
  // gone), they must not reject unhandled: each gets a handler when issued.
  const ops: Promise<unknown>[] = [];
  const write = (op: Promise<unknown>) => {
    op.catch(() => {});
    ops.push(op);
  };
  // awaited before the reads: a key expired meanwhile would fail its step's check (sweep-step.ts) until the next tick
  await expireIps(r, k, ipHistPrefix(g.tag, svc.id), now - L.longestMs);
  write(r.zremrangebyscore(k.seenCreds, '-inf', now - L.longestMs));
  // The best-scored top candidates scored afresh, in one script (a batch
  // between a read here and a write would otherwise be overwritten): stale
  // high scores of keys gone quiet sink, so queries read fewer of them.
  const [ipCands, credCands, tr, te] = await Promise.all([
    candidatesOf(r, [g.ipCands]),
    candidatesOf(r, [g.credCands]),
    refreshTop ? r.zrevrange(k.topRequests, 0, 2 * svc.topCap - 1) : [],
    refreshTop ? r.zrevrange(k.topErrors, 0, 2 * svc.topCap - 1) : [],
  ]);
  const ranges = svc.ranges(now);
  // the window's start; no end (writes.ts TOP_LUA)
  const from = ranges[2 * WINDOW.window] as number;
  const stale = [...new Set([...tr, ...te])];
  for (let i = 0; i < stale.length; i += REFRESH_PER_CALL)
    write(
      r.siemTopRefresh(
        k.topRequests,
        k.topErrors,
        k.topWindow,
        ipHistPrefix(g.tag, svc.id),
        from,
        svc.windowMs,
        now,
        ...stale.slice(i, i + REFRESH_PER_CALL),
      ),
    );
  const cx = new GridCounts();
  // a part's reads, then its steps' writes, before the next part: memory bounded by a part (candidates.ts)
  await inParts(ipCands, async (part) => {
    const views = await Promise.all(part.map(([ip]) => readIp(r, svc, ip)));
    part.forEach(([ip, rules], j) => {
      const v = views[j] as IpView;
      // a batch wrote this key after the clock was read: its step, at a later clock, stands (sweep-step.ts)
      if (v.last > now) return;
      cx.at(ranges, v.series, totals);
      IP_RULES.forEach((rule, i) => {
        if ((rules & (1 << i)) === 0) return;
        const before = runBefore(v, rule.type, true);
        const after = stepIp(rule, before, cx, s);
        if (after === OUT || (after < 0 && before >= 0))
          write(
            r.siemSweepStep(
              k.seenIps,
              g.ipCands[i] as string,
              ipMetaKey(g.tag, svc.id, ip),
              ip,
              rule.type,
              v.last,
              v.since[rule.type] ?? '',
              after === OUT ? 1 : 0,
              '',
            ),
          );
      });
    });
    await Promise.all(ops.splice(0));
  });
  await inParts(credCands, async (part) => {
    const got = await Promise.all(
      part.map(([cr]) => r.siemSweepRead(k.seenCreds, credMetaKey(g.tag, svc.id, cr), credIpsKey(g.tag, svc.id, cr), cr, 'z')),
    );
    part.forEach(([cr, rules], j) => {
      const [lastRaw, metaRaw, flat] = got[j] ?? [null, [], []];
      const last = lastRaw === null ? NONE : Number(lastRaw);
      // as for IP keys: a batch after the clock read stepped it at a later clock
      if (last > now) return;
      const meta = pairs(metaRaw);
      const ips = scored(flat);
      CREDENTIAL_RULES.forEach((rule, i) => {
        if ((rules & (1 << i)) === 0) return;
        const m = meta[rule.type];
        const before: Run = m === undefined ? NONE : Number(m);
        const after = stepCredential(rule, before, { ips, now }, s);
        if (after === before) return;
        write(
          r.siemSweepStep(
            k.seenCreds,
            g.credCands[i] as string,
            credMetaKey(g.tag, svc.id, cr),
            cr,
            rule.type,
            last,
            m ?? '',
            after === OUT ? 1 : 0,
            after === OUT ? '' : String(after),
          ),
        );
      });
    });
    await Promise.all(ops.splice(0));
  });
  await Promise.all(ops);
}

/** Expired IP keys out of the last-seen index and the top sorted sets, a bounded number per script. */
async function expireIps(r: Scripts, k: GroupKeys, histPrefix: string, cutoff: number): Promise<void> {
  while ((await r.siemExpireIps(k.seenIps, k.topRequests, k.topErrors, cutoff, EXPIRE_PER_CALL, histPrefix)) >= EXPIRE_PER_CALL);
}

/**
 * Services with no key left and no record for the longest window (as the
 * memory backend has it): they give their place in SIEM_MAX_SERVICES back.
 */
export async function idleServices(r: Scripts, svcs: readonly Svc[], now: number): Promise<Svc[]> {
  const held = await Promise.all(svcs.map((svc) => heldKeys(r, [svc])));
  // no keys is not enough: every key may have been evicted at SIEM_MAX_KEYS
  const last = await Promise.all(svcs.map((svc) => r.get(serviceLastKey(svc.groups.service(svc.id), svc.id))));
  return svcs.filter((svc, i) => held[i] === 0 && Number(last[i] ?? 0) <= now - svc.layout.longestMs);
}
