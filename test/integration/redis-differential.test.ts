// Equivalence as a property: the same random streams (IPv4 keys, IPv6
// addresses grouped by /64, credentials, settings changes, clock jumps past
// every window) fed to the memory backend, to one Redis with one aggregator,
// to the same Redis shared by two aggregators taking alternate batches, and
// to a 3-master Redis Cluster, at a SIEM_MAX_KEYS that evicts all the time
// (4 or 9 keys) or never. Findings (`since` included), top lists (up to ties
// at the cut), gauges and evictions counted must be equal, whatever the
// window lengths in force and however they changed. Real redis-server
// processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import Redis, { Cluster } from 'ioredis';
import { createMemoryState, createRedisState, type StateOptions } from '../../aggregator/state';
import { createClock } from '../../aggregator/clock';
import { DEFAULT_SETTINGS, type DetectionSettings } from '../../common/settings';
import { ipKey } from '../../common/ip-key';
import type { TopList } from '../../common/record';
import type { GaugeSnapshot, KeyedRecord, SiemState } from '../../aggregator/state/state';
import type { Finding } from '../../aggregator/rules/registry';
import { startRedis, waitFor } from '../helpers/redis';
import { startCluster } from '../helpers/redis-cluster';

/** streams per run: each goes through four backends (about 2 s each here) */
export const STREAMS = 24;

const BASE = 1_717_000_000_000;
const V4 = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '198.51.100.7', '::ffff:10.0.0.4'];
// three /64s, two with several addresses: one IP key each
const V6 = ['2001:db8:1:1::1', '2001:db8:1:1::2', '2001:db8:1:1:ffff::9', '2001:db8:1:2::1', '2001:db8:7:7::1', '2001:db8:7:7::8'];
const STATUSES = [200, 204, 302, 401, 403, 404, 429, 500, 503];

// Thresholds and every window length change: short ones (< 10 s: the
// grid's 0.1 s level), the defaults, long ones (a baseline of an hour reads
// 10 s and 100 s sub-buckets), so histories cross from one level to another
// and windows are shortened and lengthened again over kept history.
const windowArb = fc.constantFrom(2, 5, 9, 30, 60, 600);
const settingsArb = fc.record({
  window_seconds: windowArb,
  error_burst_seconds: fc.constantFrom(1, 3, 10, 40),
  auth_fail_window_seconds: windowArb,
  spike_window_seconds: fc.constantFrom(3, 30, 60, 300),
  spike_baseline_seconds: fc.constantFrom(5, 300, 3600),
  credential_window_seconds: fc.constantFrom(4, 120, 300, 1800),
  error_min: fc.integer({ min: 1, max: 5 }),
  error_ratio: fc.constantFrom(0, 0.5, 0.9),
  credential_min_ips: fc.integer({ min: 1, max: 3 }),
  spike_min_successes: fc.integer({ min: 1, max: 3 }),
  spike_min_failures: fc.integer({ min: 1, max: 4 }),
  spike_failure_ratio: fc.constantFrom(0.5, 0.8),
  flood_min_requests: fc.constantFrom(3, 10),
  top_n: fc.constantFrom(2, 5),
});

/** gaps up to 400 s between records: no clock-skew limit here (the clock's own tests cover it) */
const SPARSE = Number.POSITIVE_INFINITY;

const recordArb = fc.record({
  // ms after the previous record; now and then a jump past every window
  // (and gaps past the grid's merge ages: 12 s, 400 s, 4000 s)
  dt: fc.oneof(
    { weight: 20, arbitrary: fc.integer({ min: 1, max: 3000 }) },
    { weight: 2, arbitrary: fc.integer({ min: 5_000, max: 40_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 100_000, max: 400_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 400_000, max: 5_000_000 }) },
  ),
  ip: fc.constantFrom(...V4, ...V6),
  status: fc.constantFrom(...STATUSES),
  service: fc.constantFrom('a', 'b'),
  credential: fc.option(fc.constantFrom('k1', 'k2', 'k3', 'k4'), { nil: undefined }),
});

const stepArb = fc.record({
  records: fc.array(recordArb, { minLength: 1, maxLength: 40 }),
  settings: fc.option(fc.record({ service: fc.constantFrom('a', 'b'), s: settingsArb }), { nil: undefined, freq: 4 }),
});

/**
 * SIEM_MAX_KEYS per stream: 4 and 9 of the 24 IP and credential keys a
 * stream can touch (eviction all the time), or no eviction.
 */
const maxKeysArb = fc.constantFrom(4, 9, 100_000);

function options(maxKeys: number, onEvict: () => void): StateOptions {
  return {
    clock: createClock('event', undefined, SPARSE),
    defaults: DEFAULT_SETTINGS,
    maxKeys,
    maxServices: 10,
    maxFindings: 10_000,
    credentialMaxIps: 100,
    onEvict,
    // memory evicts as Redis does (by count, after each batch): the product's
    // memory backend weighs keys in bytes at every record instead (docs/engine.md, Eviction)
    memoryEviction: 'count-after-batch',
  };
}

async function redisState(url: string, maxKeys: number, onEvict: () => void): Promise<SiemState> {
  const s = createRedisState(url, { ...options(maxKeys, onEvict), sweepIntervalMs: 60_000 });
  await waitFor('redis ready', async () => s.health?.().ok === true);
  return s;
}

/** A top list up to ties at its cut (which of several tied IPs is listed depends on candidate sets). */
function cut(list: TopList) {
  const last = list.items.at(-1)?.count ?? 0;
  return { ...list, items: list.items.filter((x) => x.count > last), counts: list.items.map((x) => x.count) };
}

function canonicalFindings(f: Finding[]): Finding[] {
  const key = (x: Finding) => `${x.type}|${x.service}|${'credential' in x ? x.credential : x.ip}`;
  return [...f].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function canonicalGauges(g: GaugeSnapshot) {
  const services = [...g.services]
    .sort((a, b) => (a.service < b.service ? -1 : 1))
    .map((s) => ({ ...s, topRequests: cut(s.topRequests), topErrors: cut(s.topErrors) }));
  return { ...g, services, findings: canonicalFindings(g.findings) };
}

async function view(s: SiemState) {
  const tops: ReturnType<typeof cut>[] = [];
  for (const service of ['a', 'b']) for (const by of ['requests', 'errors'] as const) tops.push(cut(await s.top(service, by, 3)));
  return { findings: canonicalFindings(await s.findings()), tops, gauges: canonicalGauges(await s.gauges()) };
}

test(`differential: ${STREAMS} random streams give equal findings, top lists, gauges and evictions on memory, Redis x1, Redis x2 and a 3-master Cluster`, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const cluster = await startCluster();
  t.after(() => cluster.close());
  const flushRedis = new Redis(redis.url);
  t.after(() => flushRedis.disconnect());
  const flushCluster = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
  t.after(() => flushCluster.disconnect());
  let streams = 0;
  let records = 0;
  let findings = 0;
  let evictions = 0;

  await fc.assert(
    fc.asyncProperty(maxKeysArb, fc.array(stepArb, { minLength: 2, maxLength: 8 }), async (maxKeys, steps) => {
      await flushRedis.flushall();
      await Promise.all(flushCluster.nodes('master').map((n) => n.flushall()));
      const evicted = { mem: 0, one: 0, two: 0, clu: 0 };
      const mem = createMemoryState(options(maxKeys, () => evicted.mem++));
      const one = await redisState(redis.url, maxKeys, () => evicted.one++);
      const db1 = redis.url.replace(/\/0$/, '/1');
      const two = [await redisState(db1, maxKeys, () => evicted.two++), await redisState(db1, maxKeys, () => evicted.two++)];
      const clu = await redisState(cluster.url, maxKeys, () => evicted.clu++);
      try {
        let ts = BASE;
        let sent = 0;
        for (const step of steps) {
          if (step.settings) {
            const s = { [step.settings.service]: step.settings.s as Partial<DetectionSettings> };
            for (const st of [mem, one, ...two, clu]) assert.deepEqual(await st.applySettings(s), []);
          }
          const batch: KeyedRecord[] = step.records.map((r) => {
            ts += r.dt;
            const k: KeyedRecord = { ts, ipKey: ipKey(r.ip) as string, status: r.status, service: r.service };
            if (r.credential) k.credential = r.credential;
            return k;
          });
          records += batch.length;
          const other = two[sent++ % 2] as SiemState;
          const want = await mem.apply(batch);
          for (const st of [one, other, clu]) {
            const got = await st.apply(batch);
            assert.deepEqual({ accepted: got.accepted, rejected: got.rejected }, want);
          }
        }
        for (const st of [mem, one, two[0] as SiemState, clu]) await st.sweep();
        const want = await view(mem);
        findings += want.findings.length;
        for (const [name, st] of [
          ['redis x1', one],
          ['redis x2 (a)', two[0]],
          ['redis x2 (b)', two[1]],
          ['cluster', clu],
        ] as const) {
          assert.deepEqual(await view(st as SiemState), want, name);
        }
        assert.deepEqual(evicted, { mem: evicted.mem, one: evicted.mem, two: evicted.mem, clu: evicted.mem }, 'evictions counted');
        evictions += evicted.mem;
        streams++;
      } catch (err) {
        t.diagnostic(String((err as Error).message).slice(0, 4000));
        throw err;
      } finally {
        for (const st of [one, ...two, clu]) await st.close?.();
      }
    }),
    { numRuns: STREAMS, seed: 20261130, endOnFailure: true },
  );
  t.diagnostic(`${streams} streams, ${records} records, ${findings} findings, ${evictions} evictions compared`);
  assert.equal(streams, STREAMS);
  assert.ok(findings > STREAMS, `the streams produce findings to compare (${findings})`);
});

test('one batch of records in one sub-bucket: flood_ip begins at the record it does on memory (the totals at each record, not after the batch)', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const mem = createMemoryState(options(100_000, () => {}));
  const one = await redisState(redis.url, 100_000, () => {});
  t.after(() => one.close?.());
  // three IPs taking turns, 69 records 1 ms apart: 10.0.0.1's share is 3/7 at its 3rd
  // request (flood_min_requests 3), and under 0.2 of the 69 until its 14th
  await mem.applySettings({ a: { flood_min_requests: 3 } });
  await one.applySettings({ a: { flood_min_requests: 3 } });
  const ips = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];
  const batch: KeyedRecord[] = Array.from({ length: 69 }, (_, i) => ({
    ts: BASE + i,
    ipKey: ips[i % 3] as string,
    status: 200,
    service: 'a',
  }));
  assert.deepEqual(await one.apply(batch), await mem.apply(batch));
  const want = canonicalFindings(await mem.findings());
  assert.deepEqual(
    want.filter((f) => f.type === 'flood_ip').map((f) => [f.ip, f.since]),
    [
      ['10.0.0.1', BASE + 6],
      ['10.0.0.2', BASE + 7],
      ['10.0.0.3', BASE + 8],
    ],
  );
  assert.deepEqual(canonicalFindings(await one.findings()), want);
});
