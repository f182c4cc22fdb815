// /healthz on a shared state says whether the aggregator accepts records,
// not only whether its connection is up: a real redis-server at its
// maxmemory (noeviction, the default policy) keeps the connection and
// refuses every write, so every batch is answered 503.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { getJson, postJson, startAggregator } from '../helpers/aggregator';
import { startRedis, waitFor } from '../helpers/redis';

const record = (i: number) => ({ ts: Date.now(), ip: `198.51.100.${i}`, status: 401, service: 'orders' });

test('Redis refusing writes (maxmemory reached): /healthz answers 503 with the reason while ingest answers 503, and 200 again once writes pass', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const agg = await startAggregator({ SIEM_STATE: redis.url });
  t.after(() => agg.close());
  const admin = new Redis(redis.url);
  t.after(() => admin.disconnect());
  await waitFor('healthz ok', async () => (await getJson(`${agg.url}/healthz`)).status === 200);
  assert.equal((await postJson(`${agg.url}/v1/records`, { records: [record(1)] })).status, 202);

  // /healthz writes nothing: the keys are the same after a few calls
  const keys = await admin.dbsize();
  for (let i = 0; i < 3; i++) assert.deepEqual(await getJson(`${agg.url}/healthz`), { status: 200, body: { status: 'ok' } });
  assert.equal(await admin.dbsize(), keys);

  await admin.config('SET', 'maxmemory-policy', 'noeviction');
  await admin.config('SET', 'maxmemory', '1');
  const refused = await postJson(`${agg.url}/v1/records`, { records: [record(2)] });
  assert.equal(refused.status, 503);
  assert.match(refused.body.error, /OOM/);
  const h = await getJson(`${agg.url}/healthz`);
  assert.equal(h.status, 503, 'the aggregator accepts no record: /healthz must not say ok');
  assert.equal(h.body.status, 'unavailable');
  assert.match(h.body.reason, /redis refuses writes: OOM/);

  await admin.config('SET', 'maxmemory', '0');
  assert.deepEqual(await getJson(`${agg.url}/healthz`), { status: 200, body: { status: 'ok' } });
  assert.equal((await postJson(`${agg.url}/v1/records`, { records: [record(3)] })).status, 202);
});
