// Interface items of docs/ that no other test pinned: the aggregator's
// defaults as documented (docs/configuration.md), a credential_ips finding's
// `ips` bound and order (docs/api.md), and an expired manual decision
// reaching a bouncer's next pull in `deleted` (docs/decisions.md). Each
// against the real thing: loadConfig, fastify on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../aggregator/config';
import { getJson, postJson, startAggregator } from '../helpers/aggregator';
import { ADMIN, KEY_A, addManual, pull, values } from '../helpers/decisions';

const T0 = 1_717_799_280_000;

test('the aggregator defaults are the documented ones: listen address, bounds, clock, hashing, settings, decisions, detections', () => {
  const c = loadConfig({});
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.port, 9457);
  assert.equal(c.maxBodyBytes, 5 * 1024 * 1024);
  assert.equal(c.maxServices, 100);
  assert.equal(c.maxKeys, 1_000_000);
  assert.equal(c.maxFindings, 1000);
  assert.equal(c.clock, 'wall');
  assert.equal(c.maxClockSkewMs, 300_000);
  assert.equal(c.ipv6Prefix, 64);
  assert.equal(c.hashCredentials, true);
  assert.equal(c.hashKey, undefined);
  assert.equal(c.ingestToken, undefined);
  assert.equal(c.state, 'memory');
  assert.equal(c.settingsSource, 'batch');
  assert.equal(c.decisions.max, 10_000);
  assert.deepEqual([...c.decisions.policy.keys()].sort(), ['error_ip', 'failure_spike']);
  for (const ms of c.decisions.policy.values()) assert.equal(ms, 4 * 3600_000);
  assert.equal(loadConfig({ SIEM_DECISIONS: '' }).decisions.policy.size, 0, 'empty turns automatic decisions off');
  assert.deepEqual(
    { ...c.defaults },
    {
      window_seconds: 60,
      top_n: 10,
      error_min: 20,
      error_ratio: 0.5,
      error_burst_min: 10,
      error_burst_seconds: 10,
      credential_min_ips: 3,
      credential_window_seconds: 300,
      spike_min_successes: 3,
      spike_baseline_seconds: 300,
      spike_min_failures: 10,
      spike_window_seconds: 60,
      spike_failure_ratio: 0.8,
      flood_min_requests: 1000,
      flood_min_share: 0.2,
      auth_fail_min: 6,
      auth_fail_window_seconds: 60,
      auth_fail_ratio: 0.8,
    },
  );
});

test('credential_ips: `count` is every distinct IP key, `ips` at most 20 of them, newest first', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  // one credential from 25 IPs, one second apart: .1 oldest, .25 newest
  const records = Array.from({ length: 25 }, (_, i) => ({
    ts: T0 + i * 1000,
    ip: `198.51.100.${i + 1}`,
    status: 200,
    service: 'orders',
    credential: 'c0ffee0000000001',
  }));
  assert.deepEqual((await postJson(`${agg.url}/v1/records`, { records })).body, { accepted: 25, rejected: 0 });
  const f = await getJson(`${agg.url}/v1/findings?type=credential_ips`);
  assert.equal(f.status, 200);
  assert.equal(f.body.findings.length, 1);
  const [finding] = f.body.findings;
  assert.equal(finding.credential, 'c0ffee0000000001');
  assert.equal(finding.count, 25);
  assert.deepEqual(
    finding.ips,
    Array.from({ length: 20 }, (_, i) => `198.51.100.${25 - i}`),
  );
  // the run began with the third IP (credential_min_ips 3)
  assert.equal(finding.since, T0 + 2000);
});

test('an expired manual decision reaches the next stream pull in `deleted`, and live lookups no longer answer it', async (t) => {
  let now = Date.now();
  const agg = await startAggregator(
    { SIEM_BOUNCER_KEYS: KEY_A, SIEM_ADMIN_TOKEN: ADMIN, SIEM_SWEEP_INTERVAL_MS: '60000' },
    { wallNow: () => now },
  );
  t.after(() => agg.close());
  assert.deepEqual((await pull(agg.url, KEY_A, true)).body.new ?? [], []);
  const made = await addManual(agg.url, '192.0.2.9', '1h');
  assert.equal(made.status, 201);
  assert.deepEqual(values((await pull(agg.url, KEY_A)).body.new), ['192.0.2.9']);
  // startup=false is an incremental pull like `stream?`: nothing new since
  const again = await getJson(`${agg.url}/v1/decisions/stream?startup=false`, { 'x-api-key': KEY_A });
  assert.equal(again.status, 200);
  assert.deepEqual([again.body.new ?? [], again.body.deleted ?? []], [[], []]);

  now += 3600_000 + 1000;
  await agg.decisions.reconcileNow();
  const after = await pull(agg.url, KEY_A);
  assert.equal(after.status, 200);
  assert.deepEqual(after.body.new ?? [], []);
  assert.deepEqual(values(after.body.deleted), ['192.0.2.9']);
  assert.equal(after.body.deleted[0].id, made.body.id);
  const live = await getJson(`${agg.url}/v1/decisions?ip=192.0.2.9`, { 'x-api-key': KEY_A });
  assert.equal(live.status, 200);
  assert.equal(live.body, null);
  // reported once
  assert.deepEqual((await pull(agg.url, KEY_A)).body.deleted ?? [], []);
});

test('`batch` is any string of at most 64 code points: an empty one is accepted as no id (never a duplicate), 65 are 400', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const body = (i: number, batch: string) => ({ batch, records: [{ ts: T0 + i, ip: '192.0.2.1', status: 200, service: 'orders' }] });
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(await postJson(`${agg.url}/v1/records`, body(i, '')), { status: 202, body: { accepted: 1, rejected: 0 } });
  }
  const emoji64 = '😀'.repeat(64); // 64 code points, 128 UTF-16 units
  assert.deepEqual((await postJson(`${agg.url}/v1/records`, body(2, emoji64))).body, { accepted: 1, rejected: 0 });
  assert.deepEqual((await postJson(`${agg.url}/v1/records`, body(3, emoji64))).body, { accepted: 0, rejected: 0, duplicate: true });
  assert.equal((await postJson(`${agg.url}/v1/records`, body(4, 'x'.repeat(65)))).status, 400);
  const top = await getJson(`${agg.url}/v1/top?service=orders`);
  assert.deepEqual(top.body.items, [{ ip: '192.0.2.1', count: 3 }]);
});
