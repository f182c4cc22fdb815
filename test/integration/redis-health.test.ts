// /healthz on a shared state says whether the aggregator accepts records,
// not only whether its connection is up: a real redis-server at its
// maxmemory (noeviction, the default policy) keeps the connection and
// refuses every write, so every batch is answered 503.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { getJson, postJson, startAggregator } from '../helpers/aggregator';
import { startRedis, waitFor } from '../helpers/redis';
import { metaKeys } from '../../aggregator/state/redis/keys';
import { ADMIN, KEY_A, addManual, adminHeaders, deleteDecision, pull } from '../helpers/decisions';

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

  // /healthz writes nothing (the keys are the same after many calls), and its
  // callers (no token) cannot drive Redis: one probe a second at most.
  // The leases of the aggregator's own timers (sweep lock, decisions round and
  // lock, PX of about SIEM_SWEEP_INTERVAL_MS) come and go meanwhile: not compared.
  const leases = new Set([metaKeys.sweepLock, 'ks:{d}:round', 'ks:{d}:lock']);
  const keySet = async () => (await admin.keys('*')).filter((k) => !leases.has(k)).sort();
  const keys = await keySet();
  const probes = async () => Number(/cmdstat_setrange:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);
  const before = await probes();
  const t0 = Date.now();
  for (let i = 0; i < 50; i++) assert.deepEqual(await getJson(`${agg.url}/healthz`), { status: 200, body: { status: 'ok' } });
  assert.deepEqual(await keySet(), keys);
  assert.ok((await probes()) - before <= 1 + (Date.now() - t0) / 1000, `${(await probes()) - before} probes for 50 calls`);

  await admin.config('SET', 'maxmemory-policy', 'noeviction');
  await admin.config('SET', 'maxmemory', '1');
  const refused = await postJson(`${agg.url}/v1/records`, { records: [record(2)] });
  assert.equal(refused.status, 503);
  assert.match(refused.body.error, /OOM/);
  // within a probe's period at most (the last ok answer is reused that long)
  await waitFor('healthz 503', async () => (await getJson(`${agg.url}/healthz`)).status === 503, 5000);
  const h = await getJson(`${agg.url}/healthz`);
  assert.equal(h.body.status, 'unavailable', 'the aggregator accepts no record: /healthz must not say ok');
  assert.match(h.body.reason, /redis refuses writes: OOM/);

  await admin.config('SET', 'maxmemory', '0');
  await waitFor('healthz ok again', async () => (await getJson(`${agg.url}/healthz`)).status === 200, 5000);
  assert.equal((await postJson(`${agg.url}/v1/records`, { records: [record(3)] })).status, 202);
});

test('an ACL user refused SETRANGE itself: /healthz does not take the refused probe for refused writes', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const admin = new Redis(redis.url);
  t.after(() => admin.disconnect());
  await admin.call('ACL', 'SETUSER', 'siem', 'on', '>pw', '~*', '&*', '+@all', '-setrange');
  const agg = await startAggregator({ SIEM_STATE: `redis://siem:pw@127.0.0.1:${redis.port}/0` });
  t.after(() => agg.close());
  await waitFor('healthz ok', async () => (await getJson(`${agg.url}/healthz`)).status === 200);
  assert.equal((await postJson(`${agg.url}/v1/records`, { records: [record(1)] })).status, 202);
  assert.deepEqual(await getJson(`${agg.url}/healthz`), { status: 200, body: { status: 'ok' } });
});

// docs/api.md: the shared state unreachable is 503 with the reason (SIEM_STATE_UNAVAILABLE), on
// every route that needs it; the decision endpoints answered a bare 500 "internal error" instead.
test('Redis stopped: the decision endpoints answer 503 with the reason, as ingest and /v1/findings do; 200 again once it is back', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const agg = await startAggregator({ SIEM_STATE: redis.url, SIEM_BOUNCER_KEYS: KEY_A, SIEM_ADMIN_TOKEN: ADMIN });
  t.after(() => agg.close());
  await waitFor('healthz ok', async () => (await getJson(`${agg.url}/healthz`)).status === 200);
  assert.equal((await addManual(agg.url, '198.51.100.7')).status, 201);

  await redis.stop();
  await waitFor('healthz 503', async () => (await getJson(`${agg.url}/healthz`)).status === 503, 5000);
  const answers: Record<string, { status: number; body: any }> = {
    records: await postJson(`${agg.url}/v1/records`, { records: [record(4)] }),
    findings: await getJson(`${agg.url}/v1/findings`),
    stream: await pull(agg.url, KEY_A, true),
    live: await getJson(`${agg.url}/v1/decisions?ip=198.51.100.7`, { 'x-api-key': KEY_A }),
    add: await addManual(agg.url, '198.51.100.8'),
    list: await getJson(`${agg.url}/v1/admin/decisions`, adminHeaders()),
  };
  for (const [route, a] of Object.entries(answers)) {
    assert.equal(a.status, 503, `${route}: ${JSON.stringify(a.body)}`);
    assert.match(a.body.error, /^state backend unavailable: /, route);
  }
  assert.equal(await deleteDecision(agg.url, 1), 503);

  await redis.start();
  await waitFor('healthz ok again', async () => (await getJson(`${agg.url}/healthz`)).status === 200, 10_000);
  await waitFor('stream again', async () => (await pull(agg.url, KEY_A, true)).status === 200, 10_000);
  assert.equal((await getJson(`${agg.url}/v1/admin/decisions`, adminHeaders())).status, 200);
});
