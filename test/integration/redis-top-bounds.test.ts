// IP keys that a record wakes only flood_ip for are written without their
// history read when their top score (an upper bound of their requests in
// the window) plus the batch's stays below flood_min_requests
// (state/redis/reads.ts). The sweep rescores top scores over the window in
// force: once window_seconds grows, the longer window holds records that no
// score covered, so such keys are read again until a whole window has passed
// (keys.ts topWindow). Checked against the memory backend on the same records.
// A key written blind has its history trimmed by the write script once per
// Svc.blindTrimMs of its clock: it stays bounded by the grid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { createMemoryState } from '../../aggregator/state';
import { createClock } from '../../aggregator/clock';
import { DEFAULT_SETTINGS, type DetectionSettings } from '../../common/settings';
import type { Finding } from '../../aggregator/rules/registry';
import type { KeyedRecord, SiemState } from '../../aggregator/state/state';
import { startRedis, waitFor } from '../helpers/redis';
import { redisStateForTest } from '../helpers/redis-state';

const T0 = 1_717_000_000_000;
const X = '10.0.0.1';

const floods = (f: Finding[]) => f.filter((x) => x.type === 'flood_ip');

test('Redis: after window_seconds grows, a key whose rescored top score is below flood_min_requests is read, and flood_ip found as in memory', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const r = new Redis(redis.url);
  t.after(() => r.disconnect());
  const clock = () => createClock('event', undefined, Number.POSITIVE_INFINITY);
  const red = redisStateForTest(redis.url, { clock: clock(), sweepIntervalMs: 3_600_000 });
  t.after(() => red.close?.());
  const mem = createMemoryState({
    clock: clock(),
    defaults: DEFAULT_SETTINGS,
    maxKeys: 10_000,
    maxServices: 10,
    maxFindings: 1000,
    credentialMaxIps: 100,
  });
  await waitFor('redis ready', async () => red.health?.().ok === true);
  const both: SiemState[] = [mem, red];
  const settings = async (s: Partial<DetectionSettings>) => {
    for (const st of both) assert.deepEqual(await st.applySettings({ shop: s }), []);
  };
  const apply = async (recs: KeyedRecord[]) => {
    for (const st of both) await st.apply(recs);
  };
  const rec = (ts: number, ip: string): KeyedRecord => ({ ts, ipKey: ip, status: 200, service: 'shop' });

  await settings({ window_seconds: 10, flood_min_requests: 30, flood_min_share: 0 });
  // 25 requests of X, one a second, each its own batch (with another IP's)
  for (let i = 0; i < 25; i++) await apply([rec(T0 + i * 1000, X), rec(T0 + i * 1000, `10.0.1.${i}`)]);
  // the sweep rescores X over the 10 s window: about 10, far below 30
  await red.sweep();
  const [top] = await r.keys('ks:*:top:r');
  assert.ok(top, 'a top-requests set');
  const score = Number(await r.zscore(top, X));
  assert.ok(score > 0 && score <= 12, `X rescored over the 10 s window (${score})`);
  assert.deepEqual(floods(await red.findings()), [], 'no flood yet');

  // the window grows to 600 s: X's 25 requests are in it, and 6 more make 31
  await settings({ window_seconds: 600, flood_min_requests: 30, flood_min_share: 0 });
  await apply(Array.from({ length: 6 }, (_, i) => rec(T0 + 25_000 + i * 100, X)));
  const want = floods(await mem.findings());
  assert.equal(want.length, 1, 'memory: X floods (31 requests in the 600 s window)');
  assert.deepEqual(floods(await red.findings()), want, 'Redis: the same finding, since included');
});

test('Redis: a key written blind for 2000 s (one request every 5 s, far below flood_min_requests) keeps a history bounded by the grid, trimmed by the write script', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const r = new Redis(redis.url);
  t.after(() => r.disconnect());
  const red = redisStateForTest(redis.url, {
    clock: createClock('event', undefined, Number.POSITIVE_INFINITY),
    sweepIntervalMs: 3_600_000,
  });
  t.after(() => red.close?.());
  await waitFor('redis ready', async () => red.health?.().ok === true);
  const rec = (ts: number): KeyedRecord => ({ ts, ipKey: X, status: 200, service: 'shop' });
  const n = 400;
  for (let i = 0; i < n; i++) await red.apply([rec(T0 + i * 5000)]);
  const [key] = await r.keys(`ks:h:*:${X}`);
  assert.ok(key, 'history hash of X');
  const fields = Object.entries(await r.hgetall(key));
  const requests = fields.filter(([f]) => f.startsWith('r'));
  // the defaults' longest window is 360 s (1 s entries): at most 72 records of it, plus a tenth for the trim's cadence
  assert.ok(requests.length > 0 && requests.length <= 90, `${requests.length} entries held of ${n} written`);
  const top = await red.top('shop', 'requests', 1);
  assert.deepEqual(
    top.items.map((x) => x.count),
    [12],
    'the 60 s window counts its 12 records',
  );
});
