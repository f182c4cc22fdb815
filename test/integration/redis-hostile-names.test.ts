// Names an ingest token holder chooses (services, credentials) on the Redis
// backend: none may stop other services' batches or make the backend read
// another entity's state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redisStateForTest } from '../helpers/redis-state';
import { startRedis, waitFor } from '../helpers/redis';
import type { KeyedRecord } from '../../aggregator/state/state';

const T = 1_717_000_000_000;

test('a service named like a property of every JS object (constructor, __proto__, toString) stops no aggregator', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const a = redisStateForTest(redis.url);
  t.after(() => a.close?.());
  await waitFor('redis ready', async () => a.health?.().ok === true);
  const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
  const recs: KeyedRecord[] = names.map((service, i) => ({ ts: T + i, ipKey: '10.0.0.1', status: 500, service }));
  assert.deepEqual(await a.apply(recs), { accepted: names.length, rejected: {} });
  // registered: every aggregator reloads the registry (this one, and one started after)
  const b = redisStateForTest(redis.url);
  t.after(() => b.close?.());
  await waitFor('redis ready', async () => b.health?.().ok === true);
  for (const st of [a, b]) {
    const got = await st.apply([{ ts: T + 10, ipKey: '10.0.0.2', status: 200, service: 'orders' }]);
    assert.deepEqual(got, { accepted: 1, rejected: {} });
    assert.deepEqual(Object.keys(await st.settingsInForce()).sort(), [...names, 'orders'].sort());
    assert.equal((await st.top('constructor', 'requests', 5)).items[0]?.ip, '10.0.0.1');
    await st.findings();
  }
});
