// The rule registry: each rule's thresholds, its candidate condition (the
// necessary condition backends track at ingest), the shared step, and the
// findings order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_SETTINGS as S, type DetectionSettings } from '../../common/settings';
import { atLeastIpsSince, distinctIpsSince, newestIps } from '../../aggregator/rules/credential-ips';
import { compareFindings, CREDENTIAL_RULES, FINDING_TYPES, IP_RULES, RULES, type Finding } from '../../aggregator/rules/registry';
import { sinceOf, stepIp } from '../../aggregator/rules/step';
import { NONE, OUT, type IpRule } from '../../aggregator/rules/types';
import { gridLayoutOf, WINDOW } from '../../aggregator/state/layout';
import { keyOf, LEVEL_MS } from '../../aggregator/state/level-grid';
import { GridCounts, windowRanges } from '../../aggregator/state/series-counts';
import { addCountsToSeries, STRIDE } from '../../aggregator/window';

const rule = (type: string) => {
  const r = IP_RULES.find((x) => x.type === type);
  assert.ok(r, type);
  return r;
};

// The Redis backend reads an IP key's history only when a record of it can
// wake a rule; for a rule with minRequests only when an upper bound of the
// key's requests in WINDOW.window reaches it (state/redis/reads.ts). So
// minRequests must be necessary for candidacy: counts one request short of
// it, whatever else they hold, never make a candidate.
test('minRequests is a necessary condition of candidate: one request short, no counts make a candidate', () => {
  const floored = IP_RULES.filter((r) => r.minRequests !== undefined);
  assert.ok(floored.length > 0, 'flood_ip has a minRequests (else Redis reads every key it wakes)');
  const big = { requests: 1e9, failures: 1e9, successes: 1e9, auth_failures: 1e9 };
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 0, max: 1e6 }), (min, other) => {
      const s: DetectionSettings = { ...S, flood_min_requests: min };
      for (const r of floored) {
        const need = r.minRequests?.(s) as number;
        const c = {
          ip: (w: number) => (w === WINDOW.window ? { ...big, requests: need - 1 } : { ...big, requests: other }),
          service: () => ({ ...big, requests: other }),
        };
        assert.equal(r.candidate(c, s), false, `${r.type}: a candidate with ${need - 1} requests in the window`);
      }
    }),
  );
});

/** IpCounts of one IP key whose whole history is in the clock's bucket (every window sees it; the baseline sees `base`). */
type Tally = [number, number, number] | [number, number, number, number];
const put = (series: number[], b: number, [r, f, su, a]: Tally) => addCountsToSeries(series, b, r, f, su, a ?? 0);
function countsOf(s: DetectionSettings, now: Tally, base: Tally = [0, 0, 0], service?: Tally) {
  const L = gridLayoutOf(s);
  const T = 10_000_999;
  const series: number[] = [];
  // the baseline's newest sub-bucket, at its level (level-grid.ts)
  const bl = L.windows[WINDOW.baseline] as { level: number; till: number };
  put(series, keyOf(bl.level, Math.floor(T / (LEVEL_MS[bl.level] as number)) - bl.till), base);
  put(series, keyOf(0, Math.floor(T / 100)), now); // the clock's own 0.1 s: in every window
  const totals: number[] = [];
  if (service) put(totals, keyOf(0, Math.floor(T / 100)), service);
  else totals.push(...series);
  return new GridCounts().at(windowRanges(L, T), series, totals);
}

/**
 * IpCounts of histories given in 1 s sub-buckets (numbered from 0) at the
 * end of 1 s sub-bucket `c`: on the grid's 1 s keys.
 */
function countsAt(s: DetectionSettings, series: readonly number[], totals: readonly number[], c: number): GridCounts {
  return new GridCounts().at(windowRanges(gridLayoutOf(s), c * 1000 + 999), onGrid(series), onGrid(totals));
}
const onGrid = (series: readonly number[]) => series.map((x, i) => (i % STRIDE === 0 ? keyOf(1, x) : x));

test('error_ip: 20 failures at ratio >= 0.5 fire; 19 failures, or a busy IP at 2%, do not', () => {
  const r = rule('error_ip');
  // counts in the clock's own bucket are in every window: the burst window set out of reach here
  const L: DetectionSettings = { ...S, error_burst_min: 1_000_000 };
  const holds = (req: number, fail: number) => r.holds(countsOf(L, [req, fail, req - fail]), L);
  assert.equal(holds(40, 20), true);
  assert.equal(holds(19, 19), false);
  assert.equal(holds(5000, 100), false);
  assert.equal(holds(41, 20), false); // ratio just under 0.5
  const f = r.finding('orders', '203.0.113.7', countsOf(S, [40, 20, 20]), S, 123);
  assert.deepEqual(f, { type: 'error_ip', service: 'orders', ip: '203.0.113.7', count: 20, ratio: 0.5, since: 123, window: 'long' });
});

test('error_ip burst: 10 failures within 10 s at ratio >= 0.5 fire as window "burst"; 9, or 10 among 21, do not', () => {
  const r = rule('error_ip');
  const holds = (req: number, fail: number) => r.holds(countsOf(S, [req, fail, req - fail]), S);
  assert.equal(holds(10, 10), true);
  assert.equal(holds(9, 9), false);
  assert.equal(holds(21, 10), false);
  assert.equal(r.candidate(countsOf(S, [21, 10, 11]), S), true, 'a burst candidate below the ratio');
  assert.deepEqual(r.finding('orders', '203.0.113.8', countsOf(S, [12, 11, 1]), S, 7), {
    type: 'error_ip',
    service: 'orders',
    ip: '203.0.113.8',
    count: 11,
    ratio: 0.9167,
    since: 7,
    window: 'burst',
  });
});

test('failure_spike: successes in the baseline, then mostly failures', () => {
  const r = rule('failure_spike');
  const holds = (base: [number, number, number], spike: [number, number, number]) => r.holds(countsOf(S, spike, base), S);
  assert.equal(holds([5, 0, 5], [12, 11, 1]), true);
  const f = r.finding('a', 'ip', countsOf(S, [12, 11, 1], [5, 0, 5]), S, 1);
  assert.deepEqual(f, { type: 'failure_spike', service: 'a', ip: 'ip', count: 11, successes: 5, ratio: 0.9167, since: 1 });
  // an IP that only ever failed has no baseline successes: not a spike
  assert.equal(holds([0, 0, 0], [50, 50, 0]), false);
  assert.equal(holds([2, 0, 2], [50, 50, 0]), false); // 2 < 3 successes
  assert.equal(holds([5, 0, 5], [9, 9, 0]), false); // 9 < 10 failures
  assert.equal(holds([5, 0, 5], [20, 15, 5]), false); // ratio 0.75 < 0.8
});

test('auth_bruteforce: 6 failed authentications at ratio >= 0.8 fire; 5, or 6 among 8 requests, or 404s, do not', () => {
  const r = rule('auth_bruteforce');
  const holds = (req: number, fail: number, auth: number) => r.holds(countsOf(S, [req, fail, req - fail, auth]), S);
  assert.equal(holds(6, 6, 6), true);
  assert.equal(holds(7, 7, 6), true); // 6 of 7 (0.857)
  assert.equal(holds(5, 5, 5), false); // 5 < 6
  assert.equal(holds(8, 6, 6), false); // 0.75 < 0.8
  assert.equal(holds(30, 30, 0), false); // 30 × 404: errors, not guessing
  assert.equal(r.candidate(countsOf(S, [8, 6, 2, 6]), S), true, 'a candidate below the ratio: more failures may still come');
  const f = r.finding('login', '203.0.113.7', countsOf(S, [7, 7, 0, 6]), S, 9);
  assert.deepEqual(f, { type: 'auth_bruteforce', service: 'login', ip: '203.0.113.7', count: 6, ratio: 0.8571, since: 9 });
  assert.equal(r.wakes({ failure: true, success: false, auth: false }), false, 'a 404 cannot wake it');
  assert.equal(r.wakes({ failure: true, success: false, auth: true }), true);
});

test('credential_ips: 3 distinct IPs fire, 2 do not; only IPs inside the window count', () => {
  const r = CREDENTIAL_RULES.find((x) => x.type === 'credential_ips');
  assert.ok(r);
  const seen = new Map([
    ['198.51.100.1', 1000],
    ['198.51.100.2', 5000],
    ['198.51.100.3', 9000],
  ]);
  const at = (fromTs: number) => ({ ips: seen, now: fromTs + S.credential_window_seconds * 1000 });
  assert.equal(r.holds(at(0), S), true);
  assert.equal(r.holds(at(1000), S), false); // (from, T]: ts 1000 is out
  assert.equal(distinctIpsSince(seen, 0), 3);
  assert.deepEqual(newestIps(seen, 0, 2), ['198.51.100.3', '198.51.100.2']);
  assert.deepEqual(r.finding('a', 'k', at(0), S, 5), {
    type: 'credential_ips',
    service: 'a',
    credential: 'k',
    count: 3,
    ips: ['198.51.100.3', '198.51.100.2', '198.51.100.1'],
    since: 5,
  });
  // the counting shortcut agrees with the exact count
  for (const from of [0, 999, 1000, 5000, 9000]) {
    assert.equal(atLeastIpsSince(seen, from, 3), distinctIpsSince(seen, from) >= 3, `from ${from}`);
  }
});

test('every credential rule: count() is the count of the finding it builds', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 600_000 })), { maxLength: 40 }),
      fc.integer({ min: 0, max: 900_000 }),
      (pairs, now) => {
        const c = { ips: new Map(pairs.map(([ip, ts]) => [`198.51.100.${ip}`, ts] as const)), now };
        for (const r of CREDENTIAL_RULES) assert.equal(r.count(c, S), (r.finding('a', 'k', c, S, 0) as Finding).count, r.type);
      },
    ),
  );
});

// --- candidate conditions, for every rule of the registry

const settingsArb: fc.Arbitrary<DetectionSettings> = fc
  .record({
    window_seconds: fc.constantFrom(10, 60, 120),
    spike_window_seconds: fc.constantFrom(10, 30, 60),
    spike_baseline_seconds: fc.constantFrom(20, 60, 300),
    credential_window_seconds: fc.constantFrom(30, 300),
    error_min: fc.integer({ min: 1, max: 8 }),
    error_ratio: fc.constantFrom(0, 0.3, 0.5, 1),
    error_burst_min: fc.integer({ min: 1, max: 8 }),
    error_burst_seconds: fc.constantFrom(5, 10),
    auth_fail_min: fc.integer({ min: 1, max: 8 }),
    auth_fail_window_seconds: fc.constantFrom(10, 60),
    auth_fail_ratio: fc.constantFrom(0, 0.5, 0.8, 1),
    credential_min_ips: fc.integer({ min: 1, max: 5 }),
    spike_min_successes: fc.integer({ min: 1, max: 5 }),
    spike_min_failures: fc.integer({ min: 1, max: 8 }),
    spike_failure_ratio: fc.constantFrom(0, 0.5, 0.8, 1),
  })
  .map((p) => ({ ...S, ...p }));

/** A sparse history: [bucket, requests, failures, successes, auth failures] entries over buckets 0..400. */
const historyArb = fc
  .array(
    fc.tuple(
      fc.integer({ min: 0, max: 400 }),
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: 0, max: 4 }),
    ),
    { maxLength: 60 },
  )
  .map((entries) => {
    const series: number[] = [];
    for (const [b, f, su, other, a] of entries) if (f + su + other > 0) addCountsToSeries(series, b, f + su + other, f, su, Math.min(a, f));
    return series;
  });

test('every IP rule is a candidate whenever it holds', () => {
  for (const r of IP_RULES) {
    fc.assert(
      fc.property(settingsArb, historyArb, historyArb, fc.integer({ min: 0, max: 500 }), (s, ip, others, c) => {
        const cx = countsAt(s, ip, merge(ip, others), c);
        return !r.holds(cx, s) || r.candidate(cx, s);
      }),
      { numRuns: 500, seed: 12 },
    );
  }
});

test('an IP candidate never stops being one while its counts still allow the rule to fire later (no new record)', () => {
  // The backends drop a non-candidate until its next record: sound only if an
  // entity meeting the rule at a later clock was a candidate at every earlier
  // one since its newest record.
  for (const r of IP_RULES) {
    fc.assert(
      fc.property(
        settingsArb,
        historyArb,
        historyArb,
        historyArb,
        fc.integer({ min: 0, max: 400 }),
        fc.integer({ min: 0, max: 200 }),
        (s, ip, others, later, c, d) => {
          const mine = ip.filter((_, i) => (ip[i - (i % STRIDE)] as number) <= c); // nothing of this IP after c
          // other IP keys go on sending: the service's totals may grow after c
          const totals = merge(
            mine,
            others,
            later.map((x, i) => (i % STRIDE === 0 ? x + c + 1 : x)),
          );
          const atLater = countsAt(s, mine, totals, c + d);
          const atC = countsAt(s, mine, totals, c);
          return !r.holds(atLater, s) || r.candidate(atC, s);
        },
      ),
      { numRuns: 500, seed: 13 },
    );
  }
});

test('a credential candidate never stops being one while its IPs still allow the rule to fire later', () => {
  for (const r of CREDENTIAL_RULES) {
    fc.assert(
      fc.property(
        settingsArb,
        fc.array(fc.integer({ min: 0, max: 600_000 }), { maxLength: 8 }),
        fc.integer({ min: 0, max: 600_000 }),
        fc.integer({ min: 0, max: 400_000 }),
        (s, stamps, now, d) => {
          const ips = new Map(stamps.filter((t) => t <= now).map((t, i) => [`10.0.0.${i}`, t]));
          const later = { ips, now: now + d };
          const atNow = { ips, now };
          return (!r.holds(later, s) || r.candidate(atNow, s)) && (!r.holds(atNow, s) || r.candidate(atNow, s));
        },
      ),
      { numRuns: 500, seed: 14 },
    );
  }
});

test('every credential rule with holdsUntil: it holds at every clock before that time, and not at it (no new record)', () => {
  for (const r of CREDENTIAL_RULES) {
    if (!r.holdsUntil) continue;
    const until = r.holdsUntil.bind(r);
    fc.assert(
      fc.property(
        settingsArb,
        fc.array(fc.integer({ min: 0, max: 600_000 }), { maxLength: 8 }),
        fc.integer({ min: 0, max: 600_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (s, stamps, now, d) => {
          const ips = new Map(stamps.filter((t) => t <= now).map((t, i) => [`10.0.0.${i}`, t]));
          if (!r.holds({ ips, now }, s)) return true;
          const end = until({ ips, now }, s);
          const t = Math.min(end - 1, now + d);
          return end > now && r.holds({ ips, now: t }, s) && !r.holds({ ips, now: end }, s);
        },
      ),
      { numRuns: 1000, seed: 15 },
    );
  }
  assert.ok(
    CREDENTIAL_RULES.some((r) => r.holdsUntil),
    'credential_ips says until when it holds',
  );
});

test('the candidate property can fail: a condition that is not necessary is caught', () => {
  // sanity of the harness: "at least error_min + 1 failures" is not necessary for error_ip
  const base = rule('error_ip');
  const wrong: IpRule = { ...base, candidate: (c, s) => c.ip(0).failures > s.error_min };
  const out = fc.check(
    fc.property(settingsArb, historyArb, fc.integer({ min: 0, max: 500 }), (s, ip, c) => {
      const cx = countsAt(s, ip, ip, c);
      return !wrong.holds(cx, s) || wrong.candidate(cx, s);
    }),
    { numRuns: 500, seed: 15 },
  );
  assert.equal(out.failed, true);
});

// --- the shared step

test('stepIp: a run begins at the record where the rule starts to hold and keeps that start', () => {
  const r = rule('error_ip');
  const s = { ...S, error_min: 2, error_ratio: 0.5 };
  const series: number[] = [];
  const c = 1000;
  let run = OUT;
  const add = (fail: number, succ: number, ts: number) => {
    addCountsToSeries(series, c, fail + succ, fail, succ);
    run = stepIp(r, run, countsAt(s, series, series, c), s, ts);
    return run;
  };
  assert.equal(add(1, 0, 100), OUT); // one failure: not a candidate
  assert.equal(add(1, 0, 200), 200); // two: the rule holds, the run starts here
  assert.equal(add(1, 0, 300), 200); // still holds: same start
  assert.equal(add(0, 4, 400), NONE); // ratio 3/7: a candidate, no run
  assert.equal(add(3, 0, 500), 500); // holds again: a new run
  // a clock tick past the window: out, and no `since` invented
  assert.equal(stepIp(r, run, countsAt(s, series, series, c + s.window_seconds + 1), s), OUT);
  assert.equal(sinceOf(NONE, 42), 42);
  assert.equal(sinceOf(7, 42), 7);
});

test('compareFindings: by count, then type, service and entity, so every backend cuts alike', () => {
  const f = (type: string, service: string, entity: string, count: number) =>
    (type === 'credential_ips'
      ? { type, service, credential: entity, count, ips: [], since: 0 }
      : { type, service, ip: entity, count, ratio: 1, since: 0 }) as Finding;
  const list = [
    f('failure_spike', 'a', '10.0.0.1', 5),
    f('error_ip', 'b', '10.0.0.1', 5),
    f('error_ip', 'a', '10.0.0.2', 5),
    f('error_ip', 'a', '10.0.0.1', 5),
    f('credential_ips', 'a', 'k', 9),
  ];
  const sorted = [...list].sort(compareFindings).map((x) => `${x.type}/${x.service}/${'ip' in x ? x.ip : x.credential}`);
  assert.deepEqual(sorted, [
    'credential_ips/a/k',
    'error_ip/a/10.0.0.1',
    'error_ip/a/10.0.0.2',
    'error_ip/b/10.0.0.1',
    'failure_spike/a/10.0.0.1',
  ]);
  assert.deepEqual([...list].reverse().sort(compareFindings), [...list].sort(compareFindings));
});

test('the registry: unique types, one metric each, findings types listed', () => {
  assert.equal(new Set(RULES.map((r) => r.type)).size, RULES.length);
  assert.equal(new Set(RULES.map((r) => r.metric.name)).size, RULES.length);
  assert.deepEqual(
    [...FINDING_TYPES],
    RULES.map((r) => r.type),
  );
});

/** Sum of series (a service's totals from its IP keys'). */
function merge(...all: number[][]): number[] {
  const out: number[] = [];
  for (const s of all)
    for (let i = 0; i + STRIDE <= s.length; i += STRIDE)
      addCountsToSeries(out, s[i] as number, s[i + 1] as number, s[i + 2] as number, s[i + 3] as number);
  return out;
}
