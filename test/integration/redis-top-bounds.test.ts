// IP keys that a record wakes only flood_ip for are written without their
// history read when their top score (an upper bound of their requests in
// the window) plus the batch's stays below flood_min_requests
// (state/redis/reads.ts). The sweep rescores top scores over the window in
// force: once window_seconds grows, the longer window holds records that no
// score covered, so such keys are read again until a whole window has passed
// (keys.ts topWindow); so are they after a sweep rescored over a shorter
// window, or at a clock ahead of the reader's (writes.ts TOP_REFRESH).
// Checked against the memory backend on the same records.
// A key written blind has its history trimmed by the write script once per
// Svc.blindTrimMs of its clock: it stays bounded by the grid.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryState } from '../../aggregator/state';
import { createClock } from '../../aggregator/clock';
import { DEFAULT_SETTINGS, type DetectionSettings } from '../../common/settings';
import type { Finding } from '../../aggregator/rules/registry';
import type { KeyedRecord, SiemState } from '../../aggregator/state/state';
import { startRedis, waitFor } from '../helpers/redis';
import { redisStateForTest, redisStateOnOwnServer } from '../helpers/redis-state';

const T0 = 1_717_000_000_000;
const X = '10.0.0.1';

const floods = (f: Finding[]) => f.filter((x) => x.type === 'flood_ip');
const rec = (ts: number, ip: string): KeyedRecord => ({ ts, ipKey: ip, status: 200, service: 'shop' });

/** A memory state, the wanted answers, on the given clock (a fresh event clock by default). */
function memoryState(clock = createClock('event', undefined, Number.POSITIVE_INFINITY)): SiemState {
  return createMemoryState({
    clock,
    defaults: DEFAULT_SETTINGS,
    maxKeys: 10_000,
    maxServices: 10,
    maxFindings: 1000,
    credentialMaxIps: 100,
  });
}

/** One Redis state beside a memory one, each on its own event clock, fed alike. */
async function redisBesideMemory(t: TestContext) {
  const { raw, state: red } = await redisStateOnOwnServer(t, {
    clock: createClock('event', undefined, Number.POSITIVE_INFINITY),
    sweepIntervalMs: 3_600_000,
  });
  const mem = memoryState();
  const both: SiemState[] = [mem, red];
  const settings = async (s: Partial<DetectionSettings>) => {
    for (const st of both) assert.deepEqual(await st.applySettings({ shop: s }), []);
  };
  const apply = async (recs: KeyedRecord[]) => {
    for (const st of both) await st.apply(recs);
  };
  return { raw, red, mem, settings, apply };
}

test('Redis: after window_seconds grows, a key whose rescored top score is below flood_min_requests is read, and flood_ip found as in memory', async (t) => {
  const { raw: r, red, mem, settings, apply } = await redisBesideMemory(t);

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

test('Redis: a sweep over a shorter window, with no IP write before the window grows back, does not leave a flooder written blind', async (t) => {
  const { red, mem, settings, apply } = await redisBesideMemory(t);

  await settings({ window_seconds: 600, flood_min_requests: 30, flood_min_share: 0 });
  for (let i = 0; i < 25; i++) await apply([rec(T0 + i * 1000, X), rec(T0 + i * 1000, `10.0.1.${i}`)]);
  // shorter window, then a sweep rescoring X over 10 s before any IP write sets the window
  await settings({ window_seconds: 10, flood_min_requests: 30, flood_min_share: 0 });
  await red.sweep();
  // back to 600 s: X's 25 requests are in it again, and 6 more make 31
  await settings({ window_seconds: 600, flood_min_requests: 30, flood_min_share: 0 });
  await apply(Array.from({ length: 6 }, (_, i) => rec(T0 + 25_000 + i * 100, X)));
  const want = floods(await mem.findings());
  assert.equal(want.length, 1, 'memory: X floods (31 requests in the 600 s window)');
  assert.deepEqual(floods(await red.findings()), want, 'Redis: the same finding, since included');
});

test('Redis: a sweep by an aggregator whose wall clock is ahead does not leave a flooder written blind by one whose clock is behind', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  // A and B share Redis, their wall clocks a minute apart; memory sees B's clock
  let aNow = T0 + 19_500;
  let bNow = T0 + 19_500;
  const a = redisStateForTest(redis.url, { clock: createClock('wall', () => aNow), sweepIntervalMs: 3_600_000 });
  t.after(() => a.close?.());
  const b = redisStateForTest(redis.url, { clock: createClock('wall', () => bNow), sweepIntervalMs: 3_600_000 });
  t.after(() => b.close?.());
  const mem = memoryState(createClock('wall', () => bNow));
  await waitFor('redis ready', async () => a.health?.().ok === true && b.health?.().ok === true);
  const s = { window_seconds: 60, flood_min_requests: 30, flood_min_share: 0 };
  for (const st of [mem, a, b]) assert.deepEqual(await st.applySettings({ shop: s }), []);
  // X's 20 early requests, written by A
  const early = Array.from({ length: 20 }, (_, i) => rec(T0 + i * 1000, X));
  for (const st of [mem, a]) await st.apply(early);
  // A's clock at T0+80 s: its sweep scores X over (T0+20 s, ...]: nothing
  aNow = T0 + 80_000;
  await a.sweep();
  // B's clock at T0+25 s: its window holds X's 20 early requests and 11 late ones
  bNow = T0 + 25_000;
  const late = Array.from({ length: 11 }, (_, i) => rec(T0 + 20_000 + i * 400, X));
  for (const st of [mem, b]) await st.apply(late);
  const want = floods(await mem.findings());
  assert.equal(want.length, 1, 'memory: X floods (31 requests in its 60 s window)');
  assert.deepEqual(floods(await b.findings()), want, 'Redis, aggregator B: the same finding, since included');
});

test('Redis: a key written blind for 2000 s (one request every 5 s, far below flood_min_requests) keeps a history bounded by the grid, trimmed by the write script', async (t) => {
  const { raw: r, state: red } = await redisStateOnOwnServer(t, {
    clock: createClock('event', undefined, Number.POSITIVE_INFINITY),
    sweepIntervalMs: 3_600_000,
  });
  const n = 400;
  for (let i = 0; i < n; i++) await red.apply([rec(T0 + i * 5000, X)]);
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
