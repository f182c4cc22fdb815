// SIEM_MAX_KEYS eviction on Redis removes an entity in one script (evict.ts
// EVICT): all of its keys or none, and none when it was written after it was
// chosen as the oldest (another aggregator's batch in between): that key is
// in use, not the least recently seen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { defineApply } from '../../aggregator/state/redis/writes';
import type { Scripts } from '../../aggregator/state/redis/service';
import { startRedis } from '../helpers/redis';
import { IP_RULES } from '../../aggregator/rules/registry';

test('Redis eviction: one script removes every key of the entity, and leaves an entity written since it was chosen', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const raw = new Redis(redis.url);
  t.after(() => raw.disconnect());
  defineApply(raw);
  const r = raw as unknown as Scripts;
  const seen = '{g}:seen';
  const cands = IP_RULES.map((_, i) => `{g}:cand:${i}`);
  const keys = [seen, '{g}:meta:x', '{g}:hist:x', '{g}:top:r', '{g}:top:f', ...cands];
  const fill = async (ts: number) => {
    await raw.zadd(seen, ts, 'x');
    await raw.hset('{g}:meta:x', 'a', '1');
    await raw.hset('{g}:hist:x', 'r1', '3');
    await raw.zadd('{g}:top:r', 3, 'x');
    await raw.zadd('{g}:top:f', 1, 'x');
    for (const c of cands) await raw.sadd(c, 'x');
  };
  const present = async () =>
    [
      await raw.zscore(seen, 'x'),
      await raw.exists('{g}:meta:x'),
      await raw.exists('{g}:hist:x'),
      await raw.zscore('{g}:top:r', 'x'),
      await raw.zscore('{g}:top:f', 'x'),
      ...(await Promise.all(cands.map((c) => raw.sismember(c, 'x')))),
    ].map((v) => v !== null && v !== 0);

  // chosen at last-seen 1000, written again at 2000 before the script ran: it stays whole
  await fill(2000);
  assert.equal(Number(await r.siemEvictIp(...keys, 'x', 1000, 2, 2)), 0);
  assert.deepEqual(await present(), Array(keys.length).fill(true));
  // chosen at its last-seen: every key goes
  assert.equal(Number(await r.siemEvictIp(...keys, 'x', 2000, 2, 2)), 1);
  assert.deepEqual(await present(), Array(keys.length).fill(false));
  // gone meanwhile (another aggregator evicted or expired it): nothing to count
  assert.equal(Number(await r.siemEvictIp(...keys, 'x', 2000, 2, 2)), 0);
});
