// SIEM_MAX_KEYS on Redis: the least recently seen IP and credential keys go
// first, with every key of the entity. Run after a batch that may have passed
// the cap (so keys exceed it only while batches are in flight, not until the
// next sweep) and at the sweep; one aggregator at a time (a lock key), so an
// entity is evicted, and counted, once.
import { credIpsKey, credMetaKey, ipHistKey, ipMetaKey, metaKeys } from './keys';
import { scored, type InGroup, type Scripts, type Svc } from './service';

/** keys evicted per round at the SIEM_MAX_KEYS cap */
const EVICT_PER_ROUND = 10_000;
/** the eviction lock outlives a stalled holder by this much at most */
const LOCK_MS = 30_000;
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** Keys held now (IP and credential, every service and group). */
export async function heldKeys(r: Scripts, svcs: readonly Svc[]): Promise<number> {
  const sizes = await Promise.all(svcs.flatMap((svc) => svc.inGroups.flatMap((g) => [r.zcard(g.keys.seenIps), r.zcard(g.keys.seenCreds)])));
  return sizes.reduce((a, n) => a + n, 0);
}

/**
 * Evict down to `maxKeys`, oldest first (at equal times an IP key before a
 * credential, the order in which a record touches them, as the memory
 * backend's LRU has it). Every key of an evicted entity goes with it (history
 * hash, rule state, index entries), so it cannot come back with its counts.
 * Returns the keys held after, or undefined when another aggregator holds the
 * lock (it is evicting).
 */
export async function evict(
  r: Scripts,
  svcs: readonly Svc[],
  maxKeys: number,
  now: number,
  onEvict?: (table: 'ip' | 'credential') => void,
): Promise<number | undefined> {
  const token = `${process.pid}:${now}:${Math.random()}`;
  if ((await r.set(metaKeys.evictLock, token, 'PX', LOCK_MS, 'NX')) === null) return undefined;
  try {
    for (;;) {
      const held = await heldKeys(r, svcs);
      const excess = Math.min(EVICT_PER_ROUND, held - maxKeys);
      if (excess <= 0) return held;
      await evictRound(r, svcs, excess, onEvict);
    }
  } finally {
    await r.eval(UNLOCK, 1, metaKeys.evictLock, token);
  }
}

async function evictRound(r: Scripts, svcs: readonly Svc[], excess: number, onEvict?: (table: 'ip' | 'credential') => void): Promise<void> {
  const lists = svcs.flatMap((svc) => svc.inGroups.map((g) => ({ svc, g })));
  const oldest = await Promise.all(
    lists.map(({ g }) =>
      Promise.all([r.zrange(g.keys.seenIps, 0, excess - 1, 'WITHSCORES'), r.zrange(g.keys.seenCreds, 0, excess - 1, 'WITHSCORES')]),
    ),
  );
  const all: { svc: Svc; g: InGroup; table: 'ip' | 'credential'; key: string; ts: number }[] = [];
  lists.forEach(({ svc, g }, i) => {
    const [ipFlat, credFlat] = oldest[i] ?? [[], []];
    for (const [key, ts] of scored(ipFlat)) all.push({ svc, g, table: 'ip', key, ts });
    for (const [key, ts] of scored(credFlat)) all.push({ svc, g, table: 'credential', key, ts });
  });
  all.sort((a, b) => a.ts - b.ts || (a.table === b.table ? 0 : a.table === 'ip' ? -1 : 1));
  const ops: Promise<unknown>[] = [];
  for (const e of all.slice(0, excess)) {
    const { g, svc } = e;
    const k = g.keys;
    if (e.table === 'ip') {
      ops.push(
        r.del(ipMetaKey(g.tag, svc.id, e.key), ipHistKey(g.tag, svc.id, e.key)),
        r.zrem(k.seenIps, e.key),
        r.zrem(k.topRequests, e.key),
        r.zrem(k.topErrors, e.key),
      );
      for (const key of g.ipCands) ops.push(r.srem(key, e.key));
    } else {
      ops.push(r.zrem(k.seenCreds, e.key), r.del(credIpsKey(g.tag, svc.id, e.key), credMetaKey(g.tag, svc.id, e.key)));
      for (const key of g.credCands) ops.push(r.srem(key, e.key));
    }
    onEvict?.(e.table);
  }
  await Promise.all(ops);
}
