// issue 13 (1) on the shared state: two aggregators on one real
// redis-server. Settings changes sent through either keep the service's
// counts (one grid whatever the settings), a settings-only POST takes no
// place in SIEM_MAX_SERVICES, and SIEM_SETTINGS=locked ignores batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getJson, postJson, startAggregator, type RunningAggregator } from '../helpers/aggregator';
import { startRedis, waitFor } from '../helpers/redis';

const T0 = 1_717_799_280_000;

async function healthy(agg: RunningAggregator): Promise<void> {
  await waitFor(`${agg.url}/healthz ok`, async () => (await getJson(`${agg.url}/healthz`)).status === 200);
}

function failures(n: number, from: number, ip: string, service = 'orders') {
  return Array.from({ length: n }, (_, i) => ({ ts: from + i, ip, status: 401, service }));
}

test('Redis: two aggregators alternating window_seconds 60 and 30 for one service keep its counts whole; each change logged once', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const logged: Record<string, unknown>[] = [];
  const onLog = (l: Record<string, unknown>) => logged.push(l);
  // a 20 s burst window: the two windows ask for different grids (2 s and 1.5 s)
  const env = { SIEM_CLOCK: 'event', SIEM_STATE: redis.url, SIEM_LOG_LEVEL: 'info', SIEM_ERROR_BURST_SECONDS: '20' };
  const a = await startAggregator(env, { onLog });
  t.after(() => a.close());
  const b = await startAggregator(env, { onLog });
  t.after(() => b.close());
  await healthy(a);
  await healthy(b);
  for (let i = 0; i < 10; i++) {
    const [agg, window] = i % 2 === 0 ? [a, 60] : [b, 30];
    const r = await postJson(`${agg.url}/v1/records`, {
      settings: { orders: { window_seconds: window } },
      records: failures(10, T0 + i * 1000, '203.0.113.7'),
    });
    assert.deepEqual(r.body, { accepted: 10, rejected: 0 });
  }
  for (const agg of [a, b]) {
    const findings = (await getJson(`${agg.url}/v1/findings?type=error_ip`)).body.findings;
    assert.deepEqual(
      findings.map((f: { ip: string; count: number }) => [f.ip, f.count]),
      [['203.0.113.7', 100]],
    );
    const top = (await getJson(`${agg.url}/v1/top?service=orders&by=errors`)).body;
    assert.deepEqual(top.items, [{ ip: '203.0.113.7', count: 100 }]);
    assert.equal((await getJson(`${agg.url}/v1/settings`)).body.services.orders.window_seconds, 30);
  }
  // the first batch set 60 (the default: no change); then 9 changes, each logged once
  const changes = logged.filter((l) => /^settings changed/.test(String(l.msg)));
  assert.equal(changes.length, 9);
});

test("Redis: window_seconds 60 -> 30 -> 5 -> 60 through two aggregators keeps the IP's history and its finding (one grid: no change restarts a history)", async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const env = { SIEM_CLOCK: 'event', SIEM_STATE: redis.url };
  const a = await startAggregator(env);
  t.after(() => a.close());
  const b = await startAggregator(env);
  t.after(() => b.close());
  await healthy(a);
  await healthy(b);
  const errorIp = async (agg: RunningAggregator) =>
    (await getJson(`${agg.url}/v1/findings?type=error_ip`)).body.findings.map((f: { ip: string; count: number; since: number }) => [
      f.ip,
      f.count,
      f.since,
    ]);
  const topErrors = async (agg: RunningAggregator) => (await getJson(`${agg.url}/v1/top?service=orders&by=errors`)).body;
  await postJson(`${a.url}/v1/records`, { records: failures(30, T0, '203.0.113.7') });
  const [[, , since]] = await errorIp(a);
  assert.deepEqual(await errorIp(b), [['203.0.113.7', 30, since]]);
  // 60 s and 30 s windows read 1 s sub-buckets, 5 s ones 0.1 s sub-buckets: the same history, through either aggregator
  const steps: [RunningAggregator, Record<string, number>, number, number][] = [
    [b, { window_seconds: 30 }, 1000, 33],
    [a, { window_seconds: 5, spike_window_seconds: 5, error_burst_seconds: 5 }, 2000, 36],
    [b, { window_seconds: 60, spike_window_seconds: 60, error_burst_seconds: 10 }, 3000, 39],
  ];
  for (const [agg, settings, at, count] of steps) {
    const r = await postJson(`${agg.url}/v1/records`, { settings: { orders: settings }, records: failures(3, T0 + at, '203.0.113.7') });
    assert.deepEqual(r.body, { accepted: 3, rejected: 0 });
    for (const x of [a, b]) {
      const top = await topErrors(x);
      assert.equal(top.window_seconds, settings.window_seconds);
      assert.deepEqual(top.items, [{ ip: '203.0.113.7', count }], `window ${settings.window_seconds} s`);
      assert.deepEqual(await errorIp(x), [['203.0.113.7', count, since]], `window ${settings.window_seconds} s`);
    }
  }
});

test('Redis: a settings-only POST naming 100 junk services takes no place; settings sent early take effect with the first record', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_STATE: redis.url, SIEM_MAX_SERVICES: '5' });
  t.after(() => agg.close());
  await healthy(agg);
  await postJson(`${agg.url}/v1/records`, { settings: { e: { error_min: 2 } }, records: [] });
  const junk = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`junk-${i}`, { error_min: 1_000_000 }]));
  assert.deepEqual((await postJson(`${agg.url}/v1/records`, { settings: junk, records: [] })).body, { accepted: 0, rejected: 0 });
  await postJson(`${agg.url}/v1/records`, { settings: { e: { error_min: 2 } }, records: [] });
  const real = ['a', 'b', 'c', 'd', 'e'].flatMap((s) => failures(2, T0, '192.0.2.1', s));
  assert.deepEqual((await postJson(`${agg.url}/v1/records`, { records: real })).body, { accepted: 10, rejected: 0 });
  const { body } = await getJson(`${agg.url}/v1/settings`);
  assert.deepEqual(Object.keys(body.services).sort(), ['a', 'b', 'c', 'd', 'e']);
  assert.equal(body.services.e.error_min, 2);
  assert.deepEqual(
    (await getJson(`${agg.url}/v1/findings`)).body.findings.map((f: { service: string }) => f.service),
    ['e'],
  );
});

test("Redis, locked: batches' settings are ignored, GET /v1/settings says locked", async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_STATE: redis.url, SIEM_SETTINGS: 'locked', SIEM_ERROR_MIN: '4' });
  t.after(() => agg.close());
  await healthy(agg);
  const r = await postJson(`${agg.url}/v1/records`, {
    settings: { orders: { error_min: 1_000_000 } },
    records: failures(4, T0, '203.0.113.7'),
  });
  assert.deepEqual(r.body, { accepted: 4, rejected: 0 });
  assert.equal((await getJson(`${agg.url}/v1/findings`)).body.findings.length, 1);
  const { body } = await getJson(`${agg.url}/v1/settings`);
  assert.equal(body.source, 'locked');
  assert.deepEqual(body.services, { orders: body.defaults });
});

test('Redis: a service with no record for its longest window gives its place back; its settings come back with it', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  let now = T0;
  const env = { SIEM_STATE: redis.url, SIEM_MAX_SERVICES: '1', SIEM_SWEEP_INTERVAL_MS: '10' };
  const a = await startAggregator(env, { wallNow: () => now });
  t.after(() => a.close());
  const b = await startAggregator(env, { wallNow: () => now });
  t.after(() => b.close());
  await healthy(a);
  await healthy(b);
  const post = (agg: RunningAggregator, records: unknown[], settings?: unknown) =>
    postJson(`${agg.url}/v1/records`, settings ? { settings, records } : { records });
  /**
   * A whole sweep begun after the clock moved, by either aggregator (the
   * sweep lock lets one sweep per SIEM_SWEEP_INTERVAL_MS). A sweep refused
   * the lock returns at once while the holder's may still be releasing a
   * service, and a sweep in flight may have read the clock before it moved:
   * the first round waits out those; in the second, whichever holds the lock
   * took it after the move (the lock lasts 10 ms, the pause 20 ms).
   */
  const sweep = async (agg: RunningAggregator) => {
    for (let round = 0; round < 2; round++) {
      await new Promise((r) => setTimeout(r, 20));
      await agg.state.sweep();
      await (agg === a ? b : a).state.sweep();
    }
  };
  assert.equal((await post(a, failures(3, now, '192.0.2.1', 'x'), { x: { error_min: 2 } })).body.accepted, 3);
  assert.deepEqual((await post(b, failures(1, now, '192.0.2.1', 'y'))).body.rejected_by, { services: 1 });
  now = T0 + 359_000;
  await sweep(b);
  assert.deepEqual((await post(b, failures(1, now, '192.0.2.1', 'y'))).body.rejected_by, { services: 1 }, 'x is not idle yet');
  now = T0 + 361_000;
  await sweep(b);
  assert.deepEqual((await post(a, failures(1, now, '192.0.2.1', 'y'))).body, { accepted: 1, rejected: 0 });
  assert.deepEqual(Object.keys((await getJson(`${b.url}/v1/settings`)).body.services), ['y']);
  now += 361_000;
  await sweep(a);
  assert.deepEqual((await post(b, failures(2, now, '192.0.2.2', 'x'))).body, { accepted: 2, rejected: 0 });
  for (const agg of [a, b]) {
    assert.equal((await getJson(`${agg.url}/v1/settings`)).body.services.x.error_min, 2);
    assert.deepEqual(
      (await getJson(`${agg.url}/v1/findings`)).body.findings.map((f: { ip: string }) => f.ip),
      ['192.0.2.2'],
    );
  }
});
