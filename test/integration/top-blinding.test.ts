// Issue 13, "The top list can be blinded": a top list lists every IP key
// with more requests in the window than its N-th listed one, whatever came
// before. The attack: short-lived heavy decoys (their counts raised the
// candidates' admission threshold, which only rose), then many slow /64s
// (filling the candidates without ever pruning them), kept a real flooder
// with 900 requests out of /v1/top and kong_siem_top_ip_requests. Run
// against the in-memory backend and a real redis-server, over HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getJson, metricValue, postJson, startAggregator, type RunningAggregator } from '../helpers/aggregator';
import { startRedis, waitFor } from '../helpers/redis';

const T0 = 1_700_000_000_000 - (1_700_000_000_000 % 60_000);
const FLOODER = '203.0.113.99';
interface Rec {
  ts: number;
  ip: string;
  status: number;
  service: string;
}
const rec = (ts: number, ip: string): Rec => ({ ts, ip, status: 200, service: 'orders' });

/** The attack's batches, in order (records of one batch share a ts range). */
function attack(): Rec[][] {
  const batches: Rec[][] = [];
  let batch: Rec[] = [];
  const push = (r: Rec) => {
    batch.push(r);
    if (batch.length === 1000) {
      batches.push(batch);
      batch = [];
    }
  };
  // decoys at T0: 129 heavy ones (1000 requests each), then 128 light ones to overflow 256 candidates
  for (let d = 0; d < 129; d++) for (let i = 0; i < 1000; i++) push(rec(T0 + i, `198.18.0.${d}`));
  for (let d = 0; d < 128; d++) push(rec(T0 + 1000, `198.18.1.${d}`));
  batches.push(batch);
  batch = [];
  // a minute later the decoys are out of the window; 600 slow /64s, 10 requests each
  for (let k = 0; k < 10; k++) for (let p = 0; p < 600; p++) push(rec(T0 + 61_000 + k * 100, `2001:db8:0:${p.toString(16)}::1`));
  batches.push(batch);
  batch = [];
  // the flooder: 900 requests over the next 57 s, 9 per batch (each batch scored under the slow /64s' 10)
  for (let b = 0; b < 100; b++) batches.push(Array.from({ length: 9 }, (_, i) => rec(T0 + 62_000 + b * 570 + i, FLOODER)));
  return batches;
}

async function feed(agg: RunningAggregator, batches: Rec[][]): Promise<void> {
  for (const records of batches) {
    const r = await postJson(`${agg.url}/v1/records`, { records });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.accepted, records.length);
  }
}

async function assertFlooderListed(agg: RunningAggregator, label: string): Promise<void> {
  const top = (await getJson(`${agg.url}/v1/top?service=orders&by=requests&n=10`)).body;
  assert.deepEqual(top.items[0], { ip: FLOODER, count: 900 }, `${label}: /v1/top ${JSON.stringify(top.items.slice(0, 3))}`);
  assert.equal(top.items.length, 10, label);
  for (const it of top.items.slice(1)) assert.equal(it.count, 10, `${label}: the slow /64s follow`);
  const text = await fetch(`${agg.url}/metrics`).then((r) => r.text());
  assert.equal(
    metricValue(text, 'kong_siem_top_ip_requests', { service: 'orders', ip: FLOODER }),
    900,
    `${label}: kong_siem_top_ip_requests`,
  );
}

// sweeps only when the test says: the attack must not depend on their timing
const ENV = { SIEM_CLOCK: 'event', SIEM_SWEEP_INTERVAL_MS: '60000' };

test('memory: decoys, then slow /64s, do not keep a flooder with 900 requests out of the top list', async (t) => {
  const agg = await startAggregator(ENV);
  t.after(() => agg.close());
  await feed(agg, attack());
  await assertFlooderListed(agg, 'memory');
  // a sweep in between changes nothing
  await agg.state.sweep();
  await assertFlooderListed(agg, 'memory after a sweep');
});

test('redis: decoys, then slow /64s, do not keep a flooder with 900 requests out of the top list', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const agg = await startAggregator({ ...ENV, SIEM_STATE: redis.url });
  t.after(() => agg.close());
  await waitFor(`${agg.url}/healthz ok`, async () => (await getJson(`${agg.url}/healthz`)).status === 200);
  await feed(agg, attack());
  await assertFlooderListed(agg, 'redis');
  await agg.state.sweep();
  await assertFlooderListed(agg, 'redis after a sweep');
});
