import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryState } from '../../aggregator/state/memory/state';
import { createClock } from '../../aggregator/clock';
import { DEFAULT_SETTINGS, type DetectionSettings } from '../../common/settings';
import { burst, rec } from '../helpers/records';
import type { KeyedRecord } from '../../aggregator/state/state';
import { FINDING_TYPES } from '../../aggregator/rules/registry';
import { fairCut } from '../../aggregator/state/findings-cut';

const T0 = 1_700_000_000_000 - (1_700_000_000_000 % 60_000); // a minute boundary

function state(
  o: Partial<{ maxKeys: number; maxServices: number; maxFindings: number; defaults: DetectionSettings; wall: () => number }> = {},
) {
  const evicted: string[] = [];
  const clock = o.wall ? createClock('wall', o.wall) : createClock('event');
  const s = new MemoryState({
    clock,
    defaults: o.defaults ?? DEFAULT_SETTINGS,
    maxKeys: o.maxKeys ?? 10_000,
    maxServices: o.maxServices ?? 10,
    maxFindings: o.maxFindings ?? 1000,
    credentialMaxIps: 100,
    onEvict: (t) => evicted.push(t),
  });
  return { s, evicted, clock };
}

test('error_ip fires at 20 failures with ratio >= 0.5, with since = the 20th failure', async () => {
  const { s } = state();
  // one every 2.5 s: never 10 within the 10 s burst window
  const recs = burst(20, T0, 50_000, '203.0.113.7', 500);
  await s.apply(recs);
  const f = await s.findings();
  assert.equal(f.length, 1);
  assert.deepEqual(f[0], {
    type: 'error_ip',
    service: 'orders',
    ip: '203.0.113.7',
    count: 20,
    ratio: 1,
    since: recs[19]!.ts,
    window: 'long',
  });
});

test('error_ip bursts: 10 failures within 10 s qualify at the 10th (window "burst"), 9 do not, and the finding turns "long" at 20', async () => {
  const { s } = state();
  const probe = burst(12, T0, 6_000, '203.0.113.8', 404); // a probe of 12 × 404 in 6 s
  const nine = burst(9, T0, 5_000, '203.0.113.9', 404);
  const diluted = [...burst(10, T0, 5_000, '203.0.113.10', 404), ...burst(11, T0 + 250, 5_000, '203.0.113.10', 200)];
  await s.apply([...probe, ...nine, ...diluted].sort((a, b) => a.ts - b.ts));
  assert.deepEqual(await s.findings({ type: 'error_ip' }), [
    { type: 'error_ip', service: 'orders', ip: '203.0.113.8', count: 12, ratio: 1, since: probe[9]!.ts, window: 'burst' },
  ]);
  // the burst lapses: 10 s later the probe is no finding
  await s.apply([rec(T0 + 17_000, '192.0.2.1', 200)]);
  assert.deepEqual(await s.findings({ type: 'error_ip' }), []);
  // a long scan: 25 × 404 over 20 s is a burst first, then the long window holds
  const scan = burst(25, T0 + 20_000, 20_000, '203.0.113.11', 404);
  await s.apply(scan);
  const [f] = await s.findings({ type: 'error_ip' });
  assert.deepEqual(f, { type: 'error_ip', service: 'orders', ip: '203.0.113.11', count: 25, ratio: 1, since: scan[9]!.ts, window: 'long' });
});

test('near misses do not fire: 19 failures; a busy IP at 2% failures; 2 IPs on a credential', async () => {
  const { s } = state();
  await s.apply(burst(19, T0, 30_000, '203.0.113.1', 500));
  const busy = [...burst(1960, T0, 50_000, '203.0.113.2', 200), ...burst(40, T0, 50_000, '203.0.113.2', 503)];
  busy.sort((a, b) => a.ts - b.ts);
  await s.apply(busy);
  await s.apply([rec(T0 + 1000, '198.51.100.1', 200, 'orders', 'cred-a'), rec(T0 + 2000, '198.51.100.2', 200, 'orders', 'cred-a')]);
  // the busy IP is alone on its service with 2000 requests: a flood, rightly
  assert.deepEqual(
    (await s.findings()).map((f) => `${f.type} ${'ip' in f ? f.ip : ''}`),
    ['flood_ip 203.0.113.2'],
  );
});

test("flood_ip: 1000 requests making 20% of the service's fire; 999, or 1000 among 6000, do not", async () => {
  const { s } = state();
  // 4000 requests of 400 other IPs over the minute, 10 each
  const others = Array.from({ length: 400 }, (_, i) => burst(10, T0, 50_000, `10.0.${i >> 8}.${i & 255}`, 200)).flat();
  await s.apply([...others, ...burst(999, T0, 50_000, '203.0.113.9', 200)].sort((a, b) => a.ts - b.ts));
  assert.deepEqual(await s.findings({ type: 'flood_ip' }), [], '999 requests');
  await s.apply([rec(T0 + 50_500, '203.0.113.9', 200)]);
  const f = (await s.findings({ type: 'flood_ip' }))[0] as { ip: string; count: number; ratio: number; since: number } | undefined;
  assert.deepEqual(f && { ip: f.ip, count: f.count, ratio: f.ratio, since: f.since }, {
    ip: '203.0.113.9',
    count: 1000,
    ratio: 0.2,
    since: T0 + 50_500,
  });
  // 1000 more requests of the others: its share drops to 1000 / 6000 without a record of its own
  await s.apply(
    Array.from({ length: 100 }, (_, i) => burst(10, T0 + 51_000, 1_000, `10.1.${i >> 8}.${i & 255}`, 200))
      .flat()
      .sort((a, b) => a.ts - b.ts),
  );
  assert.deepEqual(await s.findings({ type: 'flood_ip' }), [], 'under 20% of the service');
});

test('failures age out of the window: a finding disappears when the clock moves on', async () => {
  const { s } = state();
  // 30 failures in T0 .. T0+2.9 s, 10 more at T0+40 s .. +49 s
  await s.apply([...burst(30, T0, 3_000, '203.0.113.7', 403), ...burst(10, T0 + 40_000, 9_000, '203.0.113.7', 403)]);
  assert.equal((await s.findings({ type: 'error_ip' })).length, 1);
  await s.apply([rec(T0 + 55_000, '192.0.2.1', 200)]); // moves the event clock
  assert.equal((await s.findings({ type: 'error_ip' }))[0]?.count, 40, 'all inside (T-60s, T]');
  await s.apply([rec(T0 + 63_000, '192.0.2.1', 200)]);
  assert.deepEqual((await s.findings({ type: 'error_ip' })).length, 0, 'the 30 early failures left the window');
  assert.equal((await s.findings({ type: 'error_ip' })).length, 0);
});

test('credential_ips: 3 distinct IP keys within 300 s; IPv6 of one /64 count once', async () => {
  const { s } = state();
  await s.apply([
    rec(T0, '2001:db8:1:2::1', 200, 'orders', 'cred-x'),
    rec(T0 + 1000, '2001:db8:1:2::99', 200, 'orders', 'cred-x'), // same /64
    rec(T0 + 2000, '198.51.100.7', 200, 'orders', 'cred-x'),
  ]);
  assert.deepEqual(await s.findings(), [], 'only 2 IP keys so far');
  await s.apply([rec(T0 + 3000, '198.51.100.8', 401, 'orders', 'cred-x')]);
  const f = await s.findings({ type: 'credential_ips' });
  assert.equal(f.length, 1);
  assert.deepEqual(f[0], {
    type: 'credential_ips',
    service: 'orders',
    credential: 'cred-x',
    count: 3,
    ips: ['198.51.100.8', '198.51.100.7', '2001:db8:1:2::/64'],
    since: T0 + 3000,
  });
  // 300 s after the /64's last use (T0 + 1 s), it no longer counts
  await s.apply([rec(T0 + 301_000, '192.0.2.1', 200)]);
  assert.deepEqual(await s.findings({ type: 'credential_ips' }), []);
});

test('failure_spike: successes, then a burst of failures; an IP that only failed is an error_ip only', async () => {
  const { s } = state();
  // baseline: 5 successes 2-4 minutes ago; spike: 15 failures in the last 30 s
  await s.apply(burst(5, T0, 60_000, '198.51.100.9', 200));
  await s.apply(burst(15, T0 + 150_000, 30_000, '198.51.100.9', 401));
  await s.apply(burst(30, T0 + 150_000, 30_000, '198.51.100.66', 401));
  const f = await s.findings();
  const spikes = f.filter((x) => x.type === 'failure_spike');
  assert.equal(spikes.length, 1);
  assert.equal(spikes[0]!.type === 'failure_spike' && spikes[0]!.ip, '198.51.100.9');
  assert.equal(spikes[0]!.type === 'failure_spike' && spikes[0]!.successes, 5);
  assert.equal(spikes[0]!.count, 15);
  const errorIps = f
    .filter((x) => x.type === 'error_ip')
    .map((x) => (x as { ip: string }).ip)
    .sort();
  assert.deepEqual(errorIps, ['198.51.100.66']);
});

test('failure_spike can begin by time passing alone: successes sliding into the baseline', async () => {
  const { s } = state();
  // successes and failures within one minute: successes are in the spike window, no baseline yet
  await s.apply(burst(4, T0, 5_000, '198.51.100.10', 200));
  await s.apply(burst(40, T0 + 20_000, 10_000, '198.51.100.10', 500));
  assert.equal((await s.findings({ type: 'failure_spike' })).length, 0);
  // 52 s later the successes are older than S = 60 s while the failures are not
  await s.apply([rec(T0 + 66_000, '192.0.2.1', 200)]);
  const f = await s.findings({ type: 'failure_spike' });
  assert.equal(f.length, 1);
  assert.equal(f[0]!.count, 40);
});

test('top lists by requests and errors, with "other" the sum of the rest', async () => {
  const { s } = state();
  const recs = [];
  for (let i = 1; i <= 30; i++) recs.push(...burst(i, T0, 30_000, `10.0.0.${i}`, i % 2 ? 200 : 500));
  recs.sort((a, b) => a.ts - b.ts);
  await s.apply(recs);
  const top = await s.top('orders', 'requests');
  assert.equal(top.items.length, 10);
  assert.deepEqual(
    top.items.map((x) => x.count),
    [30, 29, 28, 27, 26, 25, 24, 23, 22, 21],
  );
  assert.equal(top.items[0]!.ip, '10.0.0.30');
  const total = (30 * 31) / 2;
  assert.equal(top.other, total - (30 + 21) * 5);
  const errs = await s.top('orders', 'errors', 3);
  assert.deepEqual(errs.items, [
    { ip: '10.0.0.30', count: 30 },
    { ip: '10.0.0.28', count: 28 },
    { ip: '10.0.0.26', count: 26 },
  ]);
  assert.equal(errs.other, 2 * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12));
  const unknown = await s.top('nope', 'requests');
  assert.deepEqual(unknown.items, []);
});

test('top list stays exact with many more IPs than its candidate set holds', async () => {
  const { s } = state({ maxKeys: 100_000 });
  const recs = [];
  for (let i = 0; i < 5000; i++) recs.push(rec(T0 + i, `10.1.${i >> 8}.${i & 255}`, 200));
  for (let j = 0; j < 10; j++) recs.push(...burst(50 + j, T0 + 5000, 10_000, `172.16.0.${j}`, 200));
  await s.apply(recs);
  const top = await s.top('orders', 'requests');
  assert.deepEqual(
    top.items.map((x) => x.ip),
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0].map((j) => `172.16.0.${j}`),
  );
  assert.equal(top.other, 5000);
});

test('gauges: unique IPs and requests of the window, tracked keys', async () => {
  const { s } = state();
  await s.apply([rec(T0, '10.0.0.1', 200, 'a', 'k1'), rec(T0 + 1, '10.0.0.2', 200, 'a'), rec(T0 + 2, '10.0.0.1', 200, 'b')]);
  await s.apply([rec(T0 + 61_000, '10.0.0.3', 200, 'a')]);
  const g = await s.gauges();
  const a = g.services.find((x) => x.service === 'a')!;
  assert.equal(a.uniqueIps, 1); // 10.0.0.1 and .2 left the 60 s window
  assert.equal(a.windowRequests, 1);
  assert.equal(g.trackedIps, 4); // a:.1 a:.2 a:.3 b:.1 (not expired: the longest window is 360 s)
  assert.equal(g.trackedKeys, 5);
});

test('late records are rejected; keys expire after the longest window and the sweep drops them', async () => {
  const { s } = state();
  await s.apply([rec(T0 + 400_000, '10.0.0.1', 200)]);
  const r = await s.apply([rec(T0 + 400_000 - 360_000, '10.0.0.2', 200), rec(T0 + 400_000 - 359_999, '10.0.0.3', 200)]);
  assert.deepEqual(r, { accepted: 1, rejected: { late: 1 } });
  await s.apply([rec(T0 + 400_000 + 359_999, '10.0.0.4', 200)]);
  await s.sweep();
  assert.equal((await s.gauges()).trackedIps, 2, '10.0.0.3 expired (newest record older than 360 s), .1 not yet');
});

test('eviction at the key cap: least recently seen first, counted by table', async () => {
  const { s, evicted } = state({ maxKeys: 3 });
  await s.apply([rec(T0, '10.0.0.1', 200), rec(T0 + 1, '10.0.0.2', 200), rec(T0 + 2, '10.0.0.3', 200)]);
  await s.apply([rec(T0 + 3, '10.0.0.1', 200)]); // touch .1: .2 is now least recent
  await s.apply([rec(T0 + 4, '10.0.0.4', 200), rec(T0 + 5, '10.0.0.5', 200)]); // two new keys: evict .2 and .3
  assert.deepEqual(evicted, ['ip', 'ip']);
  const top = await s.top('orders', 'requests');
  assert.deepEqual(top.items.map((x) => x.ip).sort(), ['10.0.0.1', '10.0.0.4', '10.0.0.5']);
  assert.equal((await s.gauges()).trackedKeys, 3);
});

test('services beyond the cap are rejected; settings per service take effect', async () => {
  const { s } = state({ maxServices: 2 });
  const refused = await s.applySettings({ a: { error_min: 5, error_ratio: 0.9 }, b: { error_min: 'x' } });
  assert.deepEqual(refused, ['b']);
  const r = await s.apply([
    ...burst(5, T0, 1000, '10.0.0.1', 500, 'a'),
    ...burst(5, T0, 1000, '10.0.0.1', 500, 'b'),
    rec(T0, '10.0.0.1', 200, 'c'),
  ]);
  assert.deepEqual(r, { accepted: 10, rejected: { services: 1 } });
  const f = await s.findings();
  assert.deepEqual(
    f.map((x) => x.service),
    ['a'],
  );
  assert.equal(s.settingsOf('a').error_min, 5);
  assert.equal(s.settingsOf('b').error_min, 20);
});

test('changing the windows of a service keeps its history: each window counts what it covers, back to 60 s all of it', async () => {
  const { s } = state();
  await s.apply(burst(30, T0, 10_000, '10.0.0.1', 500));
  assert.equal((await s.findings()).length, 1);
  await s.applySettings({ orders: { window_seconds: 10, spike_window_seconds: 10, spike_baseline_seconds: 10, error_burst_seconds: 5 } });
  await s.apply(burst(3, T0 + 10_000, 1000, '10.0.0.1', 500));
  const top = await s.top('orders', 'errors');
  assert.equal(top.window_seconds, 10);
  // clock T0 + 10.666 s: the 10 s window on 1 s sub-buckets starts at T0 + 1 s (27 of the first 30, and the 3)
  assert.deepEqual(top.items, [{ ip: '10.0.0.1', count: 30 }]);
  await s.applySettings({ orders: { window_seconds: 60 } });
  assert.deepEqual((await s.top('orders', 'errors')).items, [{ ip: '10.0.0.1', count: 33 }]);
  assert.deepEqual(
    (await s.findings({ type: 'error_ip' })).map((f) => f.count),
    [33],
  );
});

test('wall clock: future timestamps count now, records older than the longest window are late', async () => {
  let now = T0;
  const { s } = state({ wall: () => now });
  const r = await s.apply([rec(T0 + 3_600_000, '10.0.0.1', 500), rec(T0 - 360_000, '10.0.0.2', 200)]);
  assert.deepEqual(r, { accepted: 1, rejected: { late: 1 } });
  now = T0 + 59_000;
  assert.equal((await s.top('orders', 'errors')).items[0]?.count, 1);
  now = T0 + 61_000;
  assert.equal((await s.top('orders', 'errors')).items.length, 0);
});

test('findings are capped at maxFindings, strongest first', async () => {
  const { s } = state({ maxFindings: 2 });
  for (let i = 0; i < 5; i++) await s.apply(burst(20 + i, T0, 10_000, `10.0.0.${i}`, 500));
  const f = await s.findings();
  assert.deepEqual(
    f.map((x) => x.count),
    [24, 23],
  );
});

test('findings cut at maxFindings are the fair cut of the whole list, ties on the cut included (credential findings built only when kept)', async () => {
  let cutRuns = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          dt: fc.integer({ min: 0, max: 1_500 }),
          ip: fc.integer({ min: 0, max: 12 }),
          status: fc.constantFrom(200, 401, 500),
          service: fc.constantFrom('a', 'b'),
          credential: fc.option(fc.constantFrom('k1', 'k2', 'k3', 'k4'), { nil: undefined }),
        }),
        // enough records that most runs find more than the cap
        { minLength: 25, maxLength: 300 },
      ),
      fc.integer({ min: 0, max: 12 }),
      async (steps, max) => {
        const all = state({ maxFindings: 10_000 }).s;
        const cut = state({ maxFindings: max }).s;
        const settings = {
          ...DEFAULT_SETTINGS,
          credential_min_ips: 2,
          error_min: 3,
          error_burst_min: 3,
          flood_min_requests: 5,
          auth_fail_min: 2,
        };
        for (const st of [all, cut]) assert.deepEqual(await st.applySettings({ a: settings, b: settings }), []);
        let ts = T0;
        const recs = steps.map((x) => rec((ts += x.dt), `10.0.0.${x.ip}`, x.status, x.service, x.credential));
        await all.apply(recs);
        await cut.apply(recs);
        const whole = await all.findings();
        // the plain cut of the whole list (findings-cut.ts), the same however the backend builds it
        assert.deepEqual(
          await cut.findings(),
          fairCut(
            FINDING_TYPES.map((t) => whole.filter((f) => f.type === t)),
            max,
          ),
        );
        if (whole.length > max) cutRuns++;
      },
    ),
    { numRuns: 150 },
  );
  // the traffic made more findings than the cap in most runs (about 148 of 150)
  assert.ok(cutRuns > 100, `cut in ${cutRuns} runs`);
});

test('auth_bruteforce: 6 × 401/403 within 60 s fire with since = the 6th; 404s, or 401s among successes, do not', async () => {
  const { s } = state();
  const guesses = [...burst(3, T0, 3_000, '203.0.113.7', 401), ...burst(3, T0 + 20_000, 3_000, '203.0.113.7', 403)];
  await s.apply(guesses);
  // a client with many 404s and one with 6 × 401 among 3 successes (6/9 < 0.8)
  await s.apply([
    ...burst(30, T0, 30_000, '198.51.100.4', 404),
    ...burst(6, T0 + 4_000, 6_000, '198.51.100.5', 401),
    ...burst(3, T0 + 4_500, 6_000, '198.51.100.5', 200),
  ]);
  assert.deepEqual(await s.findings({ type: 'auth_bruteforce' }), [
    { type: 'auth_bruteforce', service: 'orders', ip: '203.0.113.7', count: 6, ratio: 1, since: guesses[5]!.ts },
  ]);
  await s.apply([rec(T0 + 61_000, '192.0.2.1', 200)]); // the first 401s leave the window
  assert.deepEqual(await s.findings({ type: 'auth_bruteforce' }), []);
});

test('SIEM_MAX_FINDINGS through many equal counts keeps exactly the first in compareFindings order', async () => {
  // credential_ips at count 3 in two services (many more than the cap), credentials
  // named in an order unlike their arrival, and error_ip findings at the same count
  const records: KeyedRecord[] = [];
  for (let c = 0; c < 300; c++)
    for (let k = 0; k < 3; k++) {
      const credential = `cred-${(c * 7919) % 1000}`;
      records.push({ ...rec(T0 + c, `10.${c >> 8}.${c & 255}.${k + 1}`, 200, c % 2 ? 'billing' : 'orders'), credential });
    }
  const low = { ...DEFAULT_SETTINGS, error_min: 3 };
  const run = async (maxFindings: number) => {
    const { s } = state({ maxFindings, defaults: low });
    await s.apply(records);
    for (let i = 0; i < 40; i++) await s.apply(burst(3, T0 + 400, 3, `192.0.2.${i}`, 500, i % 2 ? 'billing' : 'orders'));
    return s.findings();
  };
  const all = await run(100_000);
  assert.equal(all.length, 340);
  assert.ok(all.every((f) => f.count === 3));
  // the cut (findings-cut.ts): each type its first floor(cap / types), then the first of the rest, in `all`'s order
  const expected = (cap: number) => {
    const share = Math.floor(cap / FINDING_TYPES.length);
    const seen = new Map<string, number>();
    const kept = all.map((f) => {
      const n = seen.get(f.type) ?? 0;
      seen.set(f.type, n + 1);
      return n < share;
    });
    let room = cap - kept.filter(Boolean).length;
    return all.filter((_, i) => kept[i] || (room-- > 0 && !kept[i]));
  };
  // 25: 5 error_ip of their share, then credentials; 45: 8 error_ip
  assert.equal(expected(25).filter((f) => f.type === 'error_ip').length, 5);
  for (const cap of [1, 4, 5, 25, 45, 339, 340]) assert.deepEqual(await run(cap), expected(cap), `cap ${cap}`);
});
