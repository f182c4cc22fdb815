// SIEM_MAX_KEYS bounds what the Redis backend stores: a spray of many more IP
// keys and credentials than the cap, on one Redis and on a 3-master Cluster,
// leaves at most the cap of entities after each batch (no sweep needed), and no key of an evicted
// entity behind (history hashes, rule state, credential sets, index entries).
// An evicted IP key that returns starts from zero.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Redis, { Cluster } from 'ioredis';
import { createRedisState } from '../../aggregator/state';
import { createClock } from '../../aggregator/clock';
import { DEFAULT_SETTINGS } from '../../common/settings';
import type { KeyedRecord, SiemState } from '../../aggregator/state/state';
import { startRedis, waitFor } from '../helpers/redis';
import { startCluster } from '../helpers/redis-cluster';

const MAX = 200;
const T0 = 1_717_000_000_000;

async function allKeys(nodes: Redis[]): Promise<string[]> {
  const out: string[] = [];
  for (const n of nodes) out.push(...(await n.keys('ks:*')));
  return out;
}

async function spray(url: string, nodes: () => Redis[]): Promise<void> {
  let evicted = 0;
  const s: SiemState = createRedisState(url, {
    clock: createClock('event'),
    defaults: DEFAULT_SETTINGS,
    maxKeys: MAX,
    maxServices: 10,
    maxFindings: 1000,
    credentialMaxIps: 100,
    sweepIntervalMs: 60_000,
    onEvict: () => evicted++,
  });
  try {
    await waitFor('redis ready', async () => s.health?.().ok === true);
    const recs: KeyedRecord[] = [];
    for (let i = 0; i < 3000; i++)
      recs.push({
        ts: T0 + i,
        ipKey: `10.1.${i >> 8}.${i & 255}`,
        status: i % 3 === 0 ? 401 : 200,
        service: 'orders',
        credential: `cred-${i}`,
      });
    for (let i = 0; i < recs.length; i += 500) {
      await s.apply(recs.slice(i, i + 500));
      // evicted after the batch, not only at the next sweep
      const now = await s.gauges();
      assert.ok(now.trackedKeys <= MAX, `after the batch at ${i}: tracked ${now.trackedKeys} <= ${MAX} before any sweep`);
    }
    await s.sweep();
    const g = await s.gauges();
    assert.ok(g.trackedKeys <= MAX, `tracked ${g.trackedKeys} <= ${MAX}`);
    assert.equal(evicted, 6000 - g.trackedKeys, 'every entity beyond the cap counted as evicted');
    const keys = await allKeys(nodes());
    // per-entity keys name their entity last; they must all be held ones
    const held = new Set<string>();
    const entityKeys = keys.filter((k) => /^ks:(h|m|c|cm):/.test(k));
    for (const n of nodes()) {
      for (const k of await n.keys('ks:*:seen*')) for (const m of await n.zrange(k, 0, -1)) held.add(m);
    }
    assert.equal(held.size, g.trackedKeys);
    const owner = (k: string) => k.slice(k.lastIndexOf(':') + 1);
    const orphans = entityKeys.filter((k) => !held.has(owner(k)));
    assert.deepEqual(orphans, [], 'no key of an evicted entity left behind');
    assert.ok(entityKeys.length <= 3 * MAX, `${entityKeys.length} entity keys for ${g.trackedKeys} entities`);
    // the first IP key was evicted long ago: back, it counts only its new record
    await s.apply([{ ts: T0 + 5000, ipKey: '10.1.0.0', status: 200, service: 'orders' }]);
    let requests = 0;
    for (const n of nodes()) {
      for (const k of await n.keys('ks:h:*:10.1.0.0'))
        for (const [f, v] of Object.entries(await n.hgetall(k))) if (f.startsWith('r')) requests += Number(v);
    }
    assert.equal(requests, 1, 'the returning IP key holds only its new record');
  } finally {
    await s.close?.();
  }
}

test(`SIEM_MAX_KEYS=${MAX} on one Redis: 6000 entities sprayed, at most ${MAX} held, no key of an evicted one left`, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const r = new Redis(redis.url);
  t.after(() => r.disconnect());
  await spray(redis.url, () => [r]);
});

test(`SIEM_MAX_KEYS=${MAX} on a 3-master Cluster: the same bound, every master`, async (t) => {
  const cluster = await startCluster();
  t.after(() => cluster.close());
  const c = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
  t.after(() => c.disconnect());
  await waitFor('cluster client ready', async () => c.status === 'ready');
  await spray(cluster.url, () => c.nodes('master'));
});
