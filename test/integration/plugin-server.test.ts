// The siem plugin inside the real kong-js-pluginserver, driven over its
// socket as Kong drives it, delivering to a real aggregator on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { anonymousKongLog, kongLog } from '../helpers/kong-log-fixture';
import {
  PLUGINS_DIR,
  dumpAllPlugins,
  kongConfig,
  mapConcurrent,
  schemaFields,
  startPluginServer,
  startRecordingAggregator,
  waitFor,
} from '../helpers/pluginserver';
import { metricValue } from '../helpers/aggregator';

const HASH_KEY = 'gateway-secret';
const TOKEN = 'ingest-token-1';
const hmac16 = (v: string) => createHmac('sha256', HASH_KEY).update(v).digest('hex').slice(0, 16);

async function fields() {
  const { infos } = await dumpAllPlugins();
  const info = infos.find((i) => i.Name === 'siem');
  assert.ok(info, 'siem in the dump');
  return schemaFields(info);
}

test('--dump-all-plugins prints clean JSON with siem, its priority, phase and the contract schema', async () => {
  const { stdout, infos } = await dumpAllPlugins();
  assert.equal(stdout.trim().startsWith('['), true);
  assert.deepEqual(
    infos.map((i) => i.Name),
    ['siem'],
    'the plugins directory serves siem alone',
  );
  const info = infos[0]!;
  assert.match(info.Version, /^\d+\.\d+\.\d+$/);
  assert.deepEqual(info.Phases, ['log']);
  assert.ok(info.Priority > 0 && info.Priority < 950, `priority ${info.Priority} runs after auth plugins (acl 950, hmac-auth 1030)`);
  const f = schemaFields(info);
  const expect: Record<
    string,
    { type: string; default?: unknown; between?: [number, number]; one_of?: string[]; referenceable?: boolean; elements?: unknown }
  > = {
    aggregator_url: { type: 'string', default: 'http://127.0.0.1:9457' },
    ingest_token: { type: 'string', referenceable: true },
    batch_max_size: { type: 'integer', default: 200, between: [1, 10000] },
    flush_interval_ms: { type: 'integer', default: 1000, between: [10, 60000] },
    queue_max_records: { type: 'integer', default: 10000, between: [1, 1000000] },
    timeout_ms: { type: 'integer', default: 2000, between: [100, 60000] },
    credential_source: { type: 'string', default: 'auto', one_of: ['auto', 'credential', 'consumer', 'header'] },
    credential_header: { type: 'string', default: 'x-auth-sub' },
    hash_credentials: { type: 'boolean', default: true },
    hash_key: { type: 'string', referenceable: true },
    success_statuses: { type: 'array', default: [], elements: { type: 'integer', between: [100, 599] } },
    window_seconds: { type: 'integer', default: 60, between: [1, 86400] },
    credential_window_seconds: { type: 'integer', default: 300, between: [1, 86400] },
    spike_window_seconds: { type: 'integer', default: 60, between: [1, 86400] },
    spike_baseline_seconds: { type: 'integer', default: 300, between: [1, 86400] },
    top_n: { type: 'integer', default: 10, between: [1, 100] },
    error_min: { type: 'integer', default: 20, between: [1, 1000000] },
    credential_min_ips: { type: 'integer', default: 3, between: [1, 1000000] },
    spike_min_successes: { type: 'integer', default: 3, between: [1, 1000000] },
    spike_min_failures: { type: 'integer', default: 10, between: [1, 1000000] },
    error_ratio: { type: 'number', default: 0.5, between: [0, 1] },
    error_burst_min: { type: 'integer', default: 10, between: [1, 1000000] },
    error_burst_seconds: { type: 'integer', default: 10, between: [1, 86400] },
    auth_fail_min: { type: 'integer', default: 6, between: [1, 1000000] },
    auth_fail_window_seconds: { type: 'integer', default: 60, between: [1, 86400] },
    auth_fail_ratio: { type: 'number', default: 0.8, between: [0, 1] },
    spike_failure_ratio: { type: 'number', default: 0.8, between: [0, 1] },
    flood_min_requests: { type: 'integer', default: 1000, between: [1, 1000000] },
    flood_min_share: { type: 'number', default: 0.2, between: [0, 1] },
  };
  assert.deepEqual([...f.keys()].sort(), Object.keys(expect).sort());
  for (const [name, want] of Object.entries(expect)) {
    const got = f.get(name)!;
    assert.equal(got.type, want.type, `${name}.type`);
    assert.deepEqual(got.default, want.default, `${name}.default`);
    assert.deepEqual(got.between, want.between, `${name}.between`);
    assert.deepEqual(got.one_of, want.one_of, `${name}.one_of`);
    assert.deepEqual(got.elements, want.elements, `${name}.elements`);
    if (want.referenceable) assert.equal(got.referenceable, true, `${name}.referenceable`);
    assert.equal(typeof got.description, 'string', `${name}.description`);
  }
});

test('the plugins directory holds only siem/, with .js files alone', () => {
  assert.deepEqual(readdirSync(PLUGINS_DIR), ['siem']);
  const files = readdirSync(path.join(PLUGINS_DIR, 'siem'));
  assert.ok(files.includes('index.js'));
  for (const name of files) {
    assert.ok(name.endsWith('.js') && !name.endsWith('.d.js'), `unexpected ${name}`);
    assert.ok(statSync(path.join(PLUGINS_DIR, 'siem', name)).isFile(), `${name} is a file`);
  }
});

test('records arrive complete and correct, credentials hashed, one PDK call per event', async (t) => {
  const agg = await startRecordingAggregator({ SIEM_INGEST_TOKEN: TOKEN });
  t.after(() => agg.close());
  const ps = await startPluginServer();
  t.after(() => ps.stop());
  const f = await fields();
  const tuned = await ps.startInstance(
    kongConfig(f, {
      aggregator_url: `${agg.url}/`,
      ingest_token: TOKEN,
      hash_key: HASH_KEY,
      flush_interval_ms: 20,
      batch_max_size: 50,
      error_min: 5,
      window_seconds: 120,
    }),
  );
  const raw = await ps.startInstance(
    kongConfig(f, { aggregator_url: agg.url, ingest_token: TOKEN, hash_credentials: false, flush_interval_ms: 20 }, 2),
  );

  const now = Date.now();
  const cases: Array<{ inst: number; log: Record<string, unknown>; want: Record<string, unknown> }> = [
    {
      inst: tuned,
      log: kongLog({
        startedAt: now,
        ip: '203.0.113.7',
        status: 200,
        service: 'orders',
        route: 'orders-v1',
        consumer: 'acme',
        credentialId: 'cred-acme-1',
        host: 'api.example.com',
        method: 'POST',
        latencyMs: 31,
      }),
      want: {
        ts: now,
        ip: '203.0.113.7',
        status: 200,
        service: 'orders',
        route: 'orders-v1',
        consumer: 'acme',
        credential: hmac16('cred-acme-1'),
        host: 'api.example.com',
        method: 'POST',
        latency_ms: 31,
      },
    },
    {
      inst: tuned,
      log: kongLog({
        startedAt: now + 1,
        ip: '2001:db8:1:2::99',
        status: 401,
        service: 'orders',
        route: 'orders-v1',
        consumer: null,
        headers: { 'x-auth-sub': ['sub-42', 'sub-43'] },
      }),
      want: {
        ts: now + 1,
        ip: '2001:db8:1:2::99',
        status: 401,
        service: 'orders',
        route: 'orders-v1',
        credential: hmac16('sub-42'),
        host: 'api.example.com',
        method: 'GET',
        latency_ms: 20,
      },
    },
    {
      inst: raw,
      log: kongLog({ startedAt: now + 2, ip: '198.51.100.2', status: 502, service: 'catalog', route: null, consumer: 'globex' }),
      want: {
        ts: now + 2,
        ip: '198.51.100.2',
        status: 502,
        service: 'catalog',
        consumer: 'globex',
        credential: 'globex',
        host: 'api.example.com',
        method: 'GET',
        latency_ms: 20,
      },
    },
    {
      inst: raw,
      log: kongLog({ startedAt: now + 3, ip: '198.51.100.3', status: 499, noService: true, consumer: null }),
      want: { ts: now + 3, ip: '198.51.100.3', status: 499, service: '_unmatched', host: 'api.example.com', method: 'GET', latency_ms: 20 },
    },
  ];
  for (const c of cases) {
    const r = await ps.logEvent(c.inst, c.log);
    assert.deepEqual(r.pdkCalls, ['kong.log.serialize']);
  }
  await waitFor('4 records', () => agg.records().length >= 4);
  const byTs = new Map(agg.records().map((r) => [r.ts, r]));
  for (const c of cases) assert.deepEqual(byTs.get(c.want.ts as number), c.want);
  assert.equal(agg.records().length, 4);
  for (const r of agg.requests) {
    assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
    for (const rec of r.body.records) assert.ok(r.body.settings?.[rec.service as string], `settings for ${rec.service}`);
  }
  const ordersSettings = agg.requests.find((r) => r.body.settings?.orders)?.body.settings?.orders;
  assert.equal(ordersSettings?.error_min, 5);
  assert.equal(ordersSettings?.window_seconds, 120);
  assert.equal(agg.requests.find((r) => r.body.settings?.catalog)?.body.settings?.catalog?.error_min, 20);
  const text = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(text, 'kong_siem_records_received_total'), 4);
  assert.equal(metricValue(text, 'kong_siem_records_rejected_total', { reason: 'ip' }) ?? 0, 0);
  // Nothing raw leaves a hashing instance.
  const all = JSON.stringify(agg.requests.map((r) => r.body));
  for (const secret of ['cred-acme-1', 'sub-42']) assert.equal(all.includes(secret), false, `${secret} sent raw`);
});

// issue 16 (1)
test('anonymous consumers through the real plugin server: records without a credential, so no shared-credential finding', async (t) => {
  const agg = await startRecordingAggregator({ SIEM_INGEST_TOKEN: TOKEN });
  t.after(() => agg.close());
  const ps = await startPluginServer();
  t.after(() => ps.stop());
  const f = await fields();
  const id = await ps.startInstance(
    kongConfig(f, { aggregator_url: agg.url, ingest_token: TOKEN, hash_key: HASH_KEY, flush_interval_ms: 20, credential_min_ips: 2 }),
  );
  const now = Date.now();
  for (let i = 0; i < 5; i++) await ps.logEvent(id, anonymousKongLog({ startedAt: now + i, ip: `198.51.100.${i + 1}`, service: 'open' }));
  await waitFor('5 records', () => agg.records().length >= 5);
  for (const r of agg.records()) {
    assert.equal(r.credential, undefined, 'no credential');
    assert.equal(r.consumer, 'anonymous');
  }
  const found = (await (await fetch(`${agg.url}/v1/findings?type=credential_ips`)).json()) as { findings: unknown[] };
  assert.deepEqual(found.findings, []);
});

// issue 18, item 3
test('success_statuses through the real plugin server: a login route answering failed logins with 200 is an auth_bruteforce', async (t) => {
  const agg = await startRecordingAggregator({ SIEM_INGEST_TOKEN: TOKEN });
  t.after(() => agg.close());
  const ps = await startPluginServer();
  t.after(() => ps.stop());
  const f = await fields();
  const login = await ps.startInstance(
    kongConfig(f, { aggregator_url: agg.url, ingest_token: TOKEN, flush_interval_ms: 20, success_statuses: [302] }),
  );
  const plain = await ps.startInstance(kongConfig(f, { aggregator_url: agg.url, ingest_token: TOKEN, flush_interval_ms: 20 }, 2));
  const now = Date.now();
  // 8 failed logins answered 200, then one that worked (302), from one IP
  for (let i = 0; i < 8; i++)
    await ps.logEvent(
      login,
      kongLog({ startedAt: now + i, ip: '203.0.113.80', status: 200, service: 'blog', route: 'wp-login', consumer: null, method: 'POST' }),
    );
  await ps.logEvent(
    login,
    kongLog({ startedAt: now + 8, ip: '203.0.113.80', status: 302, service: 'blog', route: 'wp-login', consumer: null, method: 'POST' }),
  );
  // the same 200s through an instance without the field: the status rule, no outcome
  for (let i = 0; i < 8; i++)
    await ps.logEvent(
      plain,
      kongLog({ startedAt: now + i, ip: '203.0.113.81', status: 200, service: 'blog', route: 'home', consumer: null }),
    );
  await waitFor('17 records', () => agg.records().length >= 17);
  const of = (ip: string) =>
    agg
      .records()
      .filter((r) => r.ip === ip)
      .map((r) => `${r.status}:${r.outcome ?? '-'}`);
  assert.deepEqual(of('203.0.113.80'), [...Array(8).fill('200:failure'), '302:success']);
  assert.deepEqual(of('203.0.113.81'), Array(8).fill('200:-'));
  const top = (await (await fetch(`${agg.url}/v1/top?service=blog&by=errors`)).json()) as { items: unknown[] };
  assert.deepEqual(top.items, [{ ip: '203.0.113.80', count: 8 }]);
  const found = (await (await fetch(`${agg.url}/v1/findings`)).json()) as { findings: Array<Record<string, unknown>> };
  assert.deepEqual(
    found.findings.map((x) => [x.type, x.ip, x.count, x.ratio]),
    [['auth_bruteforce', '203.0.113.80', 8, 0.8889]],
  );
});

test('1000 log events: all delivered once, at most 2 PDK calls each, large batches gzipped', async (t) => {
  const agg = await startRecordingAggregator();
  t.after(() => agg.close());
  const ps = await startPluginServer();
  t.after(() => ps.stop());
  const f = await fields();
  // Only full batches go (the interval is a minute): 10 batches of 100 records, ~19 KB of JSON each.
  const id = await ps.startInstance(kongConfig(f, { aggregator_url: agg.url, batch_max_size: 100, flush_interval_ms: 60000 }));
  const N = 1000;
  const base = Date.now();
  const logs = Array.from({ length: N }, (_, i) =>
    kongLog({
      startedAt: base + i,
      ip: `10.1.${i >> 8}.${i & 255}`,
      status: i % 7 === 0 ? 500 : 200,
      consumer: `c${i % 13}`,
      credentialId: `cred-${i % 13}`,
    }),
  );
  const results = await mapConcurrent(logs, 8, (log) => ps.logEvent(id, log));
  const calls = results.map((r) => r.pdkCalls.length);
  assert.ok(Math.max(...calls) <= 2, `max PDK calls per event ${Math.max(...calls)}`);
  assert.equal(
    calls.reduce((a, b) => a + b, 0),
    N,
    'one kong.log.serialize per event',
  );
  await waitFor(`${N} records`, () => agg.records().length >= N);
  const ts = agg.records().map((r) => r.ts as number);
  assert.equal(ts.length, N);
  assert.equal(new Set(ts).size, N, 'no duplicates');
  for (let i = 0; i < N; i++) assert.ok(ts.includes(base + i), `record ${i} delivered`);
  assert.deepEqual(
    agg.requests.map((r) => r.body.records.length),
    Array(10).fill(100),
    'batches of batch_max_size',
  );
  assert.ok(
    agg.requests.every((r) => r.headers['content-encoding'] === 'gzip'),
    'batches over 16 KiB are gzipped',
  );
  const text = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(text, 'kong_siem_records_received_total'), N);
});
