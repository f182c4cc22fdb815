// Delivery under failure: the aggregator away, the queue cap, a config
// change replacing the instance, and shutdown — all with the real plugin
// server and a real aggregator on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kongLog } from '../helpers/kong-log-fixture';
import {
  dumpAllPlugins,
  freePort,
  kongConfig,
  mapConcurrent,
  schemaFields,
  startDroppingServer,
  startPluginServer,
  startRecordingAggregator,
  waitFor,
} from '../helpers/pluginserver';
import { metricValue } from '../helpers/aggregator';
import { luaMatches } from '../helpers/lua-pattern';

async function fields() {
  const { infos } = await dumpAllPlugins();
  return schemaFields(infos.find((i) => i.Name === 'siem')!);
}

const logsFrom = (base: number, n: number) =>
  Array.from({ length: n }, (_, i) => kongLog({ startedAt: base + i, ip: `192.0.2.${i % 250}` }));

test('log events complete while the aggregator is down; the queued records arrive once it is back', async (t) => {
  const port = await freePort();
  const ps = await startPluginServer();
  t.after(() => ps.stop());
  const f = await fields();
  const id = await ps.startInstance(
    kongConfig(f, { aggregator_url: `http://127.0.0.1:${port}`, batch_max_size: 50, flush_interval_ms: 20, timeout_ms: 500 }),
  );
  const N = 300;
  const base = Date.now();
  // Every event completes with nothing listening: log() does not wait on delivery.
  const results = await mapConcurrent(logsFrom(base, N), 4, (log) => ps.logEvent(id, log));
  assert.equal(results.length, N);
  await waitFor('a failed delivery to be reported', () => ps.output().includes('delivery failed'));

  const agg = await startRecordingAggregator({}, port);
  t.after(() => agg.close());
  await waitFor(`${N} records after the aggregator returned`, () => agg.records().length >= N);
  const ts = new Set(agg.records().map((r) => r.ts));
  assert.equal(agg.records().length, N, 'each record once');
  for (let i = 0; i < N; i++) assert.ok(ts.has(base + i), `record ${i}`);
  assert.ok(
    agg.requests.every((r) => !r.body.dropped),
    'nothing dropped below the cap',
  );
});

test('the queue cap drops the oldest records and reports how many', async (t) => {
  const failing = await startDroppingServer();
  t.after(() => failing.close());
  const ps = await startPluginServer();
  t.after(() => ps.stop());
  const f = await fields();
  const CAP = 50;
  const id = await ps.startInstance(
    kongConfig(f, {
      aggregator_url: `http://127.0.0.1:${failing.port}`,
      batch_max_size: 10,
      flush_interval_ms: 10,
      queue_max_records: CAP,
      timeout_ms: 500,
    }),
  );
  const N = 120;
  const base = Date.now();
  // One at a time: the queue drops the oldest by arrival, and concurrent
  // events may arrive out of ts order, which would blur "the newest".
  await mapConcurrent(logsFrom(base, N), 1, (log) => ps.logEvent(id, log));
  // A delivery attempt begun after the last event has failed: the queue now holds the newest CAP.
  const seen = failing.connections();
  await waitFor('a retry after the last event', () => failing.connections() > seen + 1);
  await failing.close();

  const agg = await startRecordingAggregator({}, failing.port);
  t.after(() => agg.close());
  await waitFor(`${CAP} records`, () => agg.records().length >= CAP);
  await waitFor('the drop count reported', async () => {
    const text = await (await fetch(`${agg.url}/metrics`)).text();
    return metricValue(text, 'kong_siem_sender_dropped_total') === N - CAP;
  });
  const ts = agg
    .records()
    .map((r) => r.ts as number)
    .sort((a, b) => a - b);
  const newest = Array.from({ length: CAP }, (_, i) => base + N - CAP + i);
  assert.deepEqual(ts, newest, 'the newest records survive, the oldest were dropped');
  const reported = agg.requests.reduce((a, r) => a + (r.body.dropped ?? 0), 0);
  assert.equal(reported, N - CAP, 'drops reported once, in the batches');
  assert.match(ps.output(), /queue full/);
});

test('a config change (new instance, old one closed) loses no queued record; the newest settings win', async (t) => {
  const port = await freePort();
  const ps = await startPluginServer();
  t.after(() => ps.stop());
  const f = await fields();
  const url = `http://127.0.0.1:${port}`;
  const first = await ps.startInstance(kongConfig(f, { aggregator_url: url, flush_interval_ms: 20, error_min: 7 }, 1));
  const base = Date.now();
  await mapConcurrent(logsFrom(base, 100), 4, (log) => ps.logEvent(first, log));
  // Kong on a config change: start the new instance, then close the old one.
  const second = await ps.startInstance(kongConfig(f, { aggregator_url: url, flush_interval_ms: 20, batch_max_size: 30, error_min: 9 }, 2));
  await ps.closeInstance(first);
  await assert.rejects(ps.logEvent(first, kongLog()), /no plugin instance/);
  await mapConcurrent(logsFrom(base + 100, 100), 4, (log) => ps.logEvent(second, log));

  const agg = await startRecordingAggregator({}, port);
  t.after(() => agg.close());
  await waitFor('200 records', () => agg.records().length >= 200);
  const ts = new Set(agg.records().map((r) => r.ts));
  assert.equal(agg.records().length, 200);
  for (let i = 0; i < 200; i++) assert.ok(ts.has(base + i), `record ${i}`);
  assert.ok(
    agg.requests.every((r) => r.body.records.length <= 30),
    'the new batch_max_size applies',
  );
  assert.ok(
    agg.requests.every((r) => r.body.settings?.orders?.error_min === 9),
    'the new settings are sent',
  );
});

test('SIGTERM flushes the queue before the plugin server exits', async (t) => {
  const agg = await startRecordingAggregator();
  t.after(() => agg.close());
  const ps = await startPluginServer();
  t.after(() => ps.stop('SIGKILL'));
  const f = await fields();
  // Nothing would be sent for a minute: only the shutdown flush can deliver.
  const id = await ps.startInstance(kongConfig(f, { aggregator_url: agg.url, flush_interval_ms: 60000, batch_max_size: 10000 }));
  const base = Date.now();
  await mapConcurrent(logsFrom(base, 40), 4, (log) => ps.logEvent(id, log));
  assert.equal(agg.records().length, 0);
  const exit = await ps.stop('SIGTERM');
  assert.equal(exit.signal, 'SIGTERM', 'dies of the signal after flushing');
  assert.equal(agg.records().length, 40);
});

test("instances with different ingest_token on one aggregator_url: each service's records go with its own token, not the last started instance's", async (t) => {
  const agg = await startRecordingAggregator({ SIEM_INGEST_TOKEN: 'current-token' });
  t.after(() => agg.close());
  const ps = await startPluginServer();
  t.after(() => ps.stop());
  const f = await fields();
  // Kong starts instances lazily, in request order, and again after every config change:
  // here `orders` has the current token and `legacy` a stale one, started after it.
  const orders = await ps.startInstance(
    kongConfig(f, { aggregator_url: agg.url, ingest_token: 'current-token', flush_interval_ms: 20 }, 1),
  );
  const legacy = await ps.startInstance(kongConfig(f, { aggregator_url: agg.url, ingest_token: 'stale-token', flush_interval_ms: 20 }, 2));
  const base = Date.now();
  for (let i = 0; i < 20; i++) {
    await ps.logEvent(orders, kongLog({ startedAt: base + i, ip: '192.0.2.1', service: 'orders' }));
    await ps.logEvent(legacy, kongLog({ startedAt: base + i, ip: '192.0.2.2', service: 'legacy' }));
  }
  await waitFor('the 20 records of orders', () => agg.records().filter((r) => r.service === 'orders').length >= 20);
  assert.equal(agg.records().filter((r) => r.service === 'orders').length, 20);
  assert.equal(agg.records().filter((r) => r.service === 'legacy').length, 0, "legacy's stale token is refused");
  assert.ok(agg.requests.every((r) => r.headers.authorization === 'Bearer current-token'));
});

test('an aggregator_url Kong accepts but no URL parser does: the instance records nothing, sends nothing, and the plugin server says why', async (t) => {
  const ps = await startPluginServer();
  t.after(() => ps.stop());
  const f = await fields();
  const pattern = f.get('aggregator_url')?.match as string;
  // A port typo: Kong's pattern (run in LuaJIT, as Kong does) lets it through.
  const url = 'http://127.0.0.1:94570';
  assert.ok(luaMatches(url, pattern), `Kong accepts ${url}`);
  const id = await ps.startInstance(kongConfig(f, { aggregator_url: url, ingest_token: 'secret-of-orders' }));
  const results = await mapConcurrent(logsFrom(Date.now(), 3), 1, (log) => ps.logEvent(id, log));
  assert.deepEqual(
    results.map((r) => r.pdkCalls),
    [[], [], []],
    'no PDK round-trip for requests that cannot be recorded',
  );
  await waitFor('the warning', () => ps.output().includes('records nothing'));
  assert.match(ps.output(), /\[siem\] warn: config: aggregator_url "http:\/\/127\.0\.0\.1:94570" is not a usable URL \(Invalid URL\)/);
  assert.doesNotMatch(ps.output(), /delivery failed/, 'no delivery attempted, to the default URL or any other');
});
