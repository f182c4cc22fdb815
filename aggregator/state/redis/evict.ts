// SIEM_MAX_KEYS on Redis: the least recently seen IP and credential keys go
// first, with every key of the entity. Run after a batch that may have passed
// the cap (so keys exceed it only while batches are in flight, not until the
// next sweep) and at the sweep; one aggregator at a time (a lock key), so an
// entity is evicted, and counted, once.
import { CREDENTIAL_RULES, IP_RULES } from '../../rules/registry';
import { credIpsKey, credMetaKey, ipHistKey, ipMetaKey, metaKeys } from './keys';
import { scored, type InGroup, type Scripts, type Svc } from './service';

/** keys evicted per round at the SIEM_MAX_KEYS cap */
const EVICT_PER_ROUND = 10_000;
/** the eviction lock outlives a stalled holder by this much at most */
const LOCK_MS = 30_000;
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * Evict one entity in one step: KEYS[1] its last-seen index, then ARGV[3]
 * keys to delete, ARGV[4] sorted sets and the rest sets it leaves; ARGV[1]
 * the member, ARGV[2] its last-seen score when chosen. Atomic, so another
 * aggregator's write lands wholly before (and goes) or after (a fresh
 * entity, its score and index consistent), never between an index removed
 * and a top score not yet; and an entity written since it was chosen is
 * not the oldest any more: it stays. Returns 1 when evicted.
 */
/** The EVICT commands, by their fixed key counts (a Cluster client routes a script by its keys): IP keys, credentials. */
export const EVICT_KEYS = [
  ['siemEvictIp', 5 + IP_RULES.length],
  ['siemEvictCred', 3 + CREDENTIAL_RULES.length],
] as const;
export const EVICT = `
local sc = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not sc or tonumber(sc) > tonumber(ARGV[2]) then return 0 end
local nd, nz = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('DEL', unpack(KEYS, 2, 1 + nd))
redis.call('ZREM', KEYS[1], ARGV[1])
for i = 2 + nd, 1 + nd + nz do redis.call('ZREM', KEYS[i], ARGV[1]) end
for i = 2 + nd + nz, #KEYS do redis.call('SREM', KEYS[i], ARGV[1]) end
return 1
`;

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
  const ops = all.slice(0, excess).map(async (e) => {
    const { g, svc } = e;
    const k = g.keys;
    const keys =
      e.table === 'ip'
        ? [k.seenIps, ipMetaKey(g.tag, svc.id, e.key), ipHistKey(g.tag, svc.id, e.key), k.topRequests, k.topErrors, ...g.ipCands]
        : [k.seenCreds, credIpsKey(g.tag, svc.id, e.key), credMetaKey(g.tag, svc.id, e.key), ...g.credCands];
    const gone = await (e.table === 'ip' ? r.siemEvictIp(...keys, e.key, e.ts, 2, 2) : r.siemEvictCred(...keys, e.key, e.ts, 2, 0));
    if (Number(gone) === 1) onEvict?.(e.table);
  });
  await Promise.all(ops);
}
