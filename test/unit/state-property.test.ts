// Property-based: random record streams through the windowed state, compared
// with an exact brute-force reading of the contract's rules. The clock is
// stopped on the last millisecond of a sub-bucket, where the bucketed windows
// cover (T - W, T] exactly, so the two must agree to the record. Both
// backends run the same rule engine and are held to the same reference: the
// in-memory one, and Redis (a real redis-server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createMemoryState, createRedisState, type StateOptions } from '../../aggregator/state';
import { createClock } from '../../aggregator/clock';
import { DEFAULT_SETTINGS, type DetectionSettings } from '../../common/settings';
import { ipKey } from '../../common/ip-key';
import type { KeyedRecord, SiemState } from '../../aggregator/state/state';
import { FINDING_TYPES } from '../../aggregator/rules/registry';
import { referenceCounts, referenceFindings } from '../helpers/reference';
import { startRedis, waitFor } from '../helpers/redis';

const BASE = 1_717_000_000_000 - (1_717_000_000_000 % 600_000);
const IPS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '::ffff:10.0.0.5', '2001:db8:1:1::1', '2001:db8:1:1::2', '2001:db8:1:2::1'];
/** the streams are sparse (minutes between records): no clock-skew limit here */
const SPARSE = Number.POSITIVE_INFINITY;
const STATUSES = [101, 200, 204, 302, 401, 403, 404, 429, 500, 503];

const settingsArb = fc.record({
  window_seconds: fc.constantFrom(60, 120),
  spike_window_seconds: fc.constantFrom(30, 60),
  spike_baseline_seconds: fc.constantFrom(60, 300),
  credential_window_seconds: fc.constantFrom(60, 300),
  error_min: fc.integer({ min: 1, max: 6 }),
  error_ratio: fc.constantFrom(0, 0.3, 0.5, 0.9, 1),
  error_burst_min: fc.integer({ min: 1, max: 6 }),
  error_burst_seconds: fc.constantFrom(15, 30),
  auth_fail_min: fc.integer({ min: 1, max: 5 }),
  auth_fail_window_seconds: fc.constantFrom(30, 60),
  auth_fail_ratio: fc.constantFrom(0.5, 0.8, 1),
  credential_min_ips: fc.integer({ min: 1, max: 4 }),
  spike_min_successes: fc.integer({ min: 1, max: 4 }),
  spike_min_failures: fc.integer({ min: 1, max: 5 }),
  spike_failure_ratio: fc.constantFrom(0.5, 0.8, 1),
  flood_min_requests: fc.integer({ min: 1, max: 6 }),
  flood_min_share: fc.constantFrom(0, 0.1, 0.2, 0.3, 1),
});

const recordArb = fc.record({
  dt: fc.integer({ min: 0, max: 700_000 }),
  ip: fc.constantFrom(...IPS),
  status: fc.constantFrom(...STATUSES),
  service: fc.constantFrom('a', 'b'),
  credential: fc.option(fc.constantFrom('k1', 'k2', 'k3'), { nil: undefined }),
  // the outcome a plugin with success_statuses decided, mostly none
  outcome: fc.option(fc.constantFrom('success' as const, 'failure' as const), { nil: undefined, freq: 3 }),
});

type Make = (s: DetectionSettings) => Promise<SiemState>;

function options(s: DetectionSettings): StateOptions {
  return {
    clock: createClock('event', undefined, SPARSE),
    defaults: s,
    maxKeys: 10_000,
    maxServices: 10,
    maxFindings: 10_000,
    credentialMaxIps: 100,
  };
}

const memory: Make = async (s) => createMemoryState(options(s));

/** A Redis-backed state on a flushed database of `url`, once connected. */
function redisMaker(url: string): Make {
  return async (s) => {
    const state = createRedisState(url, { ...options(s), sweepIntervalMs: 60_000 });
    await waitFor('redis ready', async () => state.health?.().ok === true);
    return state;
  };
}

async function flush(url: string): Promise<void> {
  const { default: Redis } = await import('ioredis');
  const r = new Redis(url);
  await r.flushdb();
  r.disconnect();
}

async function checkAgainstReference(make: Make, runs: number, reset: () => Promise<void>): Promise<void> {
  await fc.assert(
    fc.asyncProperty(
      settingsArb,
      fc.array(recordArb, { minLength: 1, maxLength: 250 }),
      fc.integer({ min: 0, max: 5 }),
      async (partial, raw, jitterSeed) => {
        await reset();
        const s: DetectionSettings = { ...DEFAULT_SETTINGS, ...partial };
        // a twentieth of the shortest rule window, a tenth of the burst window (the sub-bucket length the backends used before the one grid)
        const bucketMs = Math.min(
          (1000 * Math.min(s.window_seconds, s.spike_window_seconds, s.spike_baseline_seconds, s.auth_fail_window_seconds)) / 20,
          (1000 * s.error_burst_seconds) / 10,
        );
        const state = await make(s);
        try {
          const records: KeyedRecord[] = raw.map((r) => {
            const k: KeyedRecord = { ts: BASE + r.dt, ipKey: ipKey(r.ip) as string, status: r.status, service: r.service };
            if (r.credential) k.credential = r.credential;
            if (r.outcome) k.outcome = r.outcome;
            return k;
          });
          // nearly in order: sorted, then neighbours swapped (out-of-order arrival)
          records.sort((x, y) => x.ts - y.ts);
          for (let i = jitterSeed; i + 1 < records.length; i += 7)
            [records[i], records[i + 1]] = [records[i + 1] as KeyedRecord, records[i] as KeyedRecord];
          // T + 1 ends a sub-bucket of every grid level up to 10 s (BASE is a multiple of 10 min), and one of bucketMs
          const T = BASE + 720_000 - 1;
          assert.equal((T + 1) % bucketMs, 0);
          const last: KeyedRecord = { ts: T, ipKey: '192.0.2.250', status: 200, service: 'a' };
          const res = await state.apply([...records, last]);
          assert.equal(res.accepted + (res.rejected.late ?? 0), records.length + 1, 'every record accepted or late');

          const ref = referenceFindings([...records, last], T, s);
          const got = await state.findings();
          for (const type of FINDING_TYPES) {
            const mine = new Map(
              got.filter((f) => f.type === type).map((f) => [`${f.service}|${'credential' in f ? f.credential : f.ip}`, f.count]),
            );
            assert.deepEqual(mine, ref[type], type);
          }
          for (const service of ['a', 'b']) {
            for (const by of ['requests', 'errors'] as const) {
              const exact = referenceCounts([...records, last], T, service, by, s);
              const top = await state.top(service, by, 100);
              assert.deepEqual(new Map(top.items.map((x) => [x.ip, x.count])), exact, `${service} ${by}`);
              assert.equal(top.other, 0);
            }
          }
        } finally {
          await state.close?.();
        }
      },
    ),
    { numRuns: runs, seed: 20261126 },
  );
}

test('memory backend: findings and top lists equal a brute-force reference at sub-bucket ends', async () => {
  await checkAgainstReference(memory, 300, async () => {});
});

test('redis backend: findings and top lists equal the same brute-force reference', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  await checkAgainstReference(redisMaker(redis.url), 120, () => flush(redis.url));
});

test('the property can fail: a wrong threshold is caught', async () => {
  // Sanity of the harness: comparing against the reference with error_min
  // off by one must find a counterexample.
  const s: DetectionSettings = { ...DEFAULT_SETTINGS, error_min: 3, error_ratio: 0 };
  const wrong: DetectionSettings = { ...s, error_min: 4 };
  const found = await fc.check(
    fc.asyncProperty(fc.array(recordArb, { minLength: 1, maxLength: 50 }), async (raw) => {
      const state = await memory(s);
      const recs: KeyedRecord[] = raw
        .map((r) => ({ ts: BASE + (r.dt % 50_000), ipKey: ipKey(r.ip) as string, status: r.status, service: r.service }))
        .sort((x, y) => x.ts - y.ts);
      const T = BASE + 60_000 - 1;
      await state.apply([...recs, { ts: T, ipKey: '192.0.2.250', status: 200, service: 'a' }]);
      const mine = (await state.findings({ type: 'error_ip' })).length;
      return mine === referenceFindings(recs, T, wrong).error_ip.size;
    }),
    { numRuns: 300, seed: 7 },
  );
  assert.equal(found.failed, true);
});
