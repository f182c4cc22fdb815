// The aggregator over HTTP on a loopback port: every endpoint, every error
// code, settings per service, metrics series appearing and disappearing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { getJson, metricValue, postJson, startAggregator } from '../helpers/aggregator';
import { wireRec } from '../helpers/records';
import { buildApp } from '../../aggregator/app';
import { loadConfig } from '../../aggregator/config';

const T0 = 1_717_799_280_000; // a minute boundary

const r = wireRec;

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  return res.text();
}

test('healthz answers ok; unknown routes get a JSON 404', async (t) => {
  const agg = await startAggregator();
  t.after(() => agg.close());
  assert.deepEqual(await getJson(`${agg.url}/healthz`), { status: 200, body: { status: 'ok' } });
  const nf = await getJson(`${agg.url}/v2/nothing`);
  assert.equal(nf.status, 404);
  assert.match(nf.body.error, /no route/);
});

test('partial acceptance: bad records are skipped and counted by reason, good ones kept', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const records = [
    r(T0, '203.0.113.7', 401, {
      credential: 'c1',
      consumer: 'acme',
      host: 'api.example.com',
      route: 'orders-v1',
      method: 'GET',
      latency_ms: 20,
      unknown_field: 1,
    }),
    r(T0, 'not-an-ip', 200), // ip
    r(T0, '203.0.113.8', 600), // status
    r(T0, '203.0.113.8', 99), // status
    { ts: T0, ip: '203.0.113.9', status: 200 }, // no service: invalid
    r(T0, '203.0.113.9', 200, { service: 'x'.repeat(257) }), // length
    r(T0, '203.0.113.9', 200, { credential: 'y'.repeat(257) }), // length
    r(T0, '203.0.113.9', '200' as unknown as number), // mistyped: invalid
    r(T0 + 0.5, '203.0.113.9', 200), // ts not an integer
    'a string', // invalid
    r(T0 + 1, '2001:db8::1', 200),
  ];
  const res = await postJson(`${agg.url}/v1/records`, { records, dropped: 7 });
  assert.equal(res.status, 202);
  assert.deepEqual(res.body, { accepted: 2, rejected: 9, rejected_by: { invalid: 4, ip: 1, length: 2, status: 2 } });
  const m = await scrape(agg.url);
  assert.equal(metricValue(m, 'kong_siem_records_received_total'), 11);
  assert.equal(metricValue(m, 'kong_siem_records_rejected_total', { reason: 'ip' }), 1);
  assert.equal(metricValue(m, 'kong_siem_records_rejected_total', { reason: 'status' }), 2);
  assert.equal(metricValue(m, 'kong_siem_records_rejected_total', { reason: 'invalid' }), 4);
  assert.equal(metricValue(m, 'kong_siem_records_rejected_total', { reason: 'length' }), 2);
  assert.equal(metricValue(m, 'kong_siem_sender_dropped_total'), 7);
  assert.equal(metricValue(m, 'kong_siem_window_requests', { service: 'orders' }), 2);
  // a batch of only invalid records is still a 202
  const bad = await postJson(`${agg.url}/v1/records`, { records: [{}, { ts: 'x' }] });
  assert.deepEqual(bad, { status: 202, body: { accepted: 0, rejected: 2, rejected_by: { invalid: 2 } } });
});

test('error codes: 400 malformed JSON or wrong shape, 413 oversize, 415 content type', async (t) => {
  const agg = await startAggregator({ SIEM_MAX_BODY_BYTES: '4096', SIEM_MAX_BATCH_RECORDS: '50' });
  t.after(() => agg.close());
  const url = `${agg.url}/v1/records`;
  for (const body of [
    '{"records": [',
    '[]',
    '{"records": {}}',
    '{}',
    '{"records": [], "dropped": -1}',
    '{"records": [], "settings": 3}',
    'null',
  ]) {
    const res = await postJson(url, body);
    assert.equal(res.status, 400, body);
    assert.equal(typeof res.body.error, 'string', body);
  }
  const big = await postJson(url, { records: [r(T0, '10.0.0.1', 200, { host: 'h'.repeat(5000) })] });
  assert.equal(big.status, 413);
  assert.match(big.body.error, /SIEM_MAX_BODY_BYTES/);
  const many = await postJson(url, { records: Array.from({ length: 51 }, () => ({})) });
  assert.equal(many.status, 413);
  assert.match(many.body.error, /SIEM_MAX_BATCH_RECORDS/);
  const text = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
  assert.equal(text.status, 415);
  // issue 16 (11): the answer says what to send
  assert.equal(
    ((await text.json()) as { error: unknown }).error,
    'unsupported Content-Type "text/plain": send application/json (optionally with Content-Encoding: gzip)',
  );
  const form = await fetch(`${agg.url}/v1/kong-log`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'a=1',
  });
  assert.equal(form.status, 415);
  assert.match(((await form.json()) as { error: string }).error, /send application\/json/);
  const br = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-encoding': 'br' },
    body: '{"records":[]}',
  });
  assert.equal(br.status, 415);
  // Each refusal counted by status, none of its records: 7 400s, 2 413s, 3 415s (one on /v1/kong-log).
  const m = await scrape(agg.url);
  const refused = (status: string) => metricValue(m, 'kong_siem_ingest_refused_total', { status });
  assert.deepEqual(['400', '401', '413', '415', '503'].map(refused), [7, 0, 2, 3, 0]);
  assert.equal(metricValue(m, 'kong_siem_records_received_total'), 0);
  // a route that is not ingest is not counted, nor an accepted batch
  assert.equal((await getJson(`${agg.url}/v1/findings?type=nope`)).status, 400);
  assert.equal((await postJson(url, { records: [] })).status, 202);
  assert.equal(metricValue(await scrape(agg.url), 'kong_siem_ingest_refused_total', { status: '400' }), 7);
});

test('gzip bodies are accepted; a gzip bomb is refused with 413 and bad gzip with 400', async (t) => {
  const agg = await startAggregator({ SIEM_MAX_BODY_BYTES: '65536' });
  t.after(() => agg.close());
  const url = `${agg.url}/v1/records`;
  const now = Date.now();
  const body = gzipSync(JSON.stringify({ records: [r(now, '10.0.0.1', 200), r(now, '10.0.0.2', 500)] }));
  const ok = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body });
  assert.equal(ok.status, 202);
  assert.deepEqual(await ok.json(), { accepted: 2, rejected: 0 });
  // 10 MB of spaces compress to ~10 kB: under the raw limit, far over once inflated
  const bomb = gzipSync(Buffer.concat([Buffer.from('{"records":[]'), Buffer.alloc(10_000_000, 0x20), Buffer.from('}')]));
  assert.ok(bomb.length < 65536);
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: bomb });
  assert.equal(res.status, 413);
  const junk = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: 'not gzip',
  });
  assert.equal(junk.status, 400);
});

test('ingest token: missing or wrong gets 401 and stores nothing; the right one is accepted', async (t) => {
  const agg = await startAggregator({ SIEM_INGEST_TOKEN: 's3cret-token' });
  t.after(() => agg.close());
  const url = `${agg.url}/v1/records`;
  const batch = { records: [r(Date.now(), '10.0.0.1', 200)] };
  assert.equal((await postJson(url, batch)).status, 401);
  const wrong = await postJson(url, batch, { authorization: 'Bearer s3cret-tokeN' });
  assert.equal(wrong.status, 401);
  assert.match(wrong.body.error, /bearer token/);
  assert.equal((await postJson(url, batch, { authorization: 'Basic s3cret-token' })).status, 401);
  let m = await scrape(agg.url);
  assert.equal(metricValue(m, 'kong_siem_records_received_total'), 0);
  assert.equal(metricValue(m, 'kong_siem_tracked_keys'), 0);
  assert.deepEqual(await postJson(url, batch, { authorization: 'Bearer s3cret-token' }), {
    status: 202,
    body: { accepted: 1, rejected: 0 },
  });
  m = await scrape(agg.url);
  assert.equal(metricValue(m, 'kong_siem_tracked_keys'), 1);
  // A stale token is visible here, not only in Kong's error log: 3 refused on /v1/records, 1 on /v1/kong-log.
  assert.equal((await postJson(`${agg.url}/v1/kong-log`, {}, { authorization: 'Bearer old' })).status, 401);
  assert.equal(metricValue(m, 'kong_siem_ingest_refused_total', { status: '401' }), 3);
  assert.equal(metricValue(await scrape(agg.url), 'kong_siem_ingest_refused_total', { status: '401' }), 4);
});

test('refused ingest requests are logged by status with the addresses they came from: a gateway or a stranger', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const agg = await startAggregator(
    { SIEM_LOG_LEVEL: 'warn', SIEM_INGEST_TOKEN: 's3cret-token', SIEM_TRUST_PROXY: '127.0.0.1', SIEM_MAX_BATCH_RECORDS: '5' },
    { onLog: (l) => lines.push(l) },
  );
  t.after(() => agg.close());
  const refused = () => lines.filter((l) => /ingest requests? refused/.test(String(l.msg)));
  const batch = { records: [r(Date.now(), '10.0.0.1', 200)] };
  // three stale tokens: one line at once, the next two held for the period
  for (const xff of ['192.0.2.7', '192.0.2.7', '198.51.100.9'])
    assert.equal((await postJson(`${agg.url}/v1/records`, batch, { authorization: 'Bearer old', 'x-forwarded-for': xff })).status, 401);
  assert.equal(refused().length, 1);
  assert.deepEqual(
    { ...refused()[0], level: undefined, time: undefined, pid: undefined, hostname: undefined },
    {
      ...{ level: undefined, time: undefined, pid: undefined, hostname: undefined },
      status: 401,
      route: '/v1/records',
      refused: 1,
      clients: ['192.0.2.7'],
      error: 'missing or wrong bearer token',
      msg: 'first ingest request refused with 401',
    },
  );
  // another status is its own line; an accepted batch none
  const many = { records: Array.from({ length: 6 }, () => r(Date.now(), '10.0.0.1', 200)) };
  assert.equal((await postJson(`${agg.url}/v1/kong-log`, [], { authorization: 'Bearer s3cret-token' })).status, 202);
  assert.equal((await postJson(`${agg.url}/v1/records`, many, { authorization: 'Bearer s3cret-token' })).status, 413);
  assert.equal(refused().length, 2);
  assert.equal(refused()[1]?.status, 413);
  assert.deepEqual(refused()[1]?.clients, ['127.0.0.1']);
  // an answer quoting the request (its Content-Type) is cut in the log
  const type = `text/${'x'.repeat(10_000)}`;
  const res = await fetch(`${agg.url}/v1/records`, {
    method: 'POST',
    headers: { authorization: 'Bearer s3cret-token', 'content-type': type },
    body: '{}',
  });
  assert.equal(res.status, 415);
  assert.equal(refused().length, 3);
  assert.equal(String(refused()[2]?.error).length, 256);
});

test("refused ingest requests look their sender's address up a bounded number of times per log line (an X-Forwarded-For walk each)", async (t) => {
  const siem = buildApp(loadConfig({ SIEM_LOG_LEVEL: 'silent', SIEM_INGEST_TOKEN: 's3cret-token', SIEM_TRUST_PROXY: '10.0.0.0/8' }));
  t.after(() => siem.app.close());
  // how often req.ip (proxy-addr's walk of X-Forwarded-For) is read
  let reads = 0;
  siem.app.addHook('onRequest', async (req) => {
    const ip = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(req), 'ip')?.get;
    Object.defineProperty(req, 'ip', { get: () => (reads++, ip?.call(req)) });
  });
  // 1,500 trusted entries: 3.7 ms a walk here, written by a client inside SIEM_TRUST_PROXY, no token needed
  const xff = Array.from({ length: 1500 }, (_, i) => `10.0.${i % 250}.${i % 200}`).join(',');
  for (let i = 0; i < 200; i++) {
    const res = await siem.app.inject({
      method: 'POST',
      url: '/v1/records',
      remoteAddress: '10.9.9.9',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': xff },
      payload: '{"records":[]}',
    });
    assert.equal(res.statusCode, 401);
  }
  // the first line's one, then at most 20 for the next line (a minute later)
  assert.ok(reads <= 21, `${reads} lookups for 200 refusals`);
  assert.equal(metricValue(await siem.metrics.registry.metrics(), 'kong_siem_ingest_refused_total', { status: '401' }), 200);
});

test('settings in a batch take effect for their service only; invalid settings are ignored and counted', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const records = [];
  for (let i = 0; i < 6; i++) {
    records.push(r(T0 + i * 1000, '192.0.2.1', 500, { service: 'tuned' }));
    records.push(r(T0 + i * 1000, '192.0.2.1', 500, { service: 'default' }));
    records.push(r(T0 + i * 1000, '192.0.2.1', 500, { service: 'broken' }));
  }
  const settings = { tuned: { error_min: 5, window_seconds: 30 }, broken: { error_min: 0 } };
  assert.deepEqual(
    await postJson(`${agg.url}/v1/records`, { settings, records }),
    { status: 202, body: { accepted: 18, rejected: 0 } },
    'settings are not records',
  );
  const f = await getJson(`${agg.url}/v1/findings`);
  assert.equal(f.status, 200);
  assert.equal(typeof f.body.generated_at, 'number');
  assert.deepEqual(f.body.findings, [
    { type: 'error_ip', service: 'tuned', ip: '192.0.2.1', count: 6, ratio: 1, since: T0 + 4000, window: 'long' },
  ]);
  const top = await getJson(`${agg.url}/v1/top?service=tuned`);
  assert.equal(top.body.window_seconds, 30);
  const m = await scrape(agg.url);
  assert.equal(metricValue(m, 'kong_siem_records_rejected_total', { reason: 'settings' }), 1);
});

test('findings filters, top parameters and their 400s', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const records = [];
  for (let i = 0; i < 25; i++) records.push(r(T0 + i * 100, '192.0.2.1', 500), r(T0 + i * 100, '192.0.2.2', 500, { service: 'billing' }));
  for (let i = 0; i < 30; i++) records.push(r(T0 + 3000 + i, '192.0.2.3', 200));
  for (const [i, ip] of ['198.51.100.1', '198.51.100.2', '198.51.100.3'].entries())
    records.push(r(T0 + 4000 + i, ip, 200, { credential: 'k' }));
  await postJson(`${agg.url}/v1/records`, { records });
  const all = (await getJson(`${agg.url}/v1/findings`)).body.findings;
  assert.deepEqual(all.map((f: { type: string }) => f.type).sort(), ['credential_ips', 'error_ip', 'error_ip']);
  const onlyErr = (await getJson(`${agg.url}/v1/findings?type=error_ip&service=billing`)).body.findings;
  assert.deepEqual(
    onlyErr.map((f: { ip: string }) => f.ip),
    ['192.0.2.2'],
  );
  assert.equal((await getJson(`${agg.url}/v1/findings?type=nope`)).status, 400);

  const top = await getJson(`${agg.url}/v1/top?service=orders&by=requests&n=2`);
  assert.deepEqual(top.body, {
    service: 'orders',
    by: 'requests',
    window_seconds: 60,
    items: [
      { ip: '192.0.2.3', count: 30 },
      { ip: '192.0.2.1', count: 25 },
    ],
    other: 3,
  });
  const errs = await getJson(`${agg.url}/v1/top?service=orders&by=errors`);
  assert.deepEqual(errs.body.items, [{ ip: '192.0.2.1', count: 25 }]);
  assert.equal(errs.body.other, 0);
  for (const q of ['', '?service=orders&by=latency', '?service=orders&n=0', '?service=orders&n=101', '?service=orders&n=x']) {
    const res = await getJson(`${agg.url}/v1/top${q}`);
    assert.equal(res.status, 400, q);
    assert.equal(typeof res.body.error, 'string');
  }
});

test('metrics: gauges of all four detections appear, and a flagged series disappears when it stops qualifying', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const records = [];
  for (let i = 0; i < 5; i++) records.push(r(T0 + i * 10_000, '198.51.100.9', 200)); // baseline successes
  for (let i = 0; i < 3; i++) records.push(r(T0 + 60_000 + i, `198.51.100.${20 + i}`, 200, { credential: 'shared' }));
  for (let i = 0; i < 30; i++) records.push(r(T0 + 130_000 + i * 100, '198.51.100.9', 401));
  await postJson(`${agg.url}/v1/records`, { records });
  let m = await scrape(agg.url);
  assert.equal(metricValue(m, 'kong_siem_error_ip', { service: 'orders', ip: '198.51.100.9' }), 30);
  assert.equal(metricValue(m, 'kong_siem_failure_spike', { service: 'orders', ip: '198.51.100.9' }), 30);
  assert.equal(metricValue(m, 'kong_siem_credential_ips', { service: 'orders', credential: 'shared' }), 3);
  assert.equal(metricValue(m, 'kong_siem_top_ip_requests', { service: 'orders', ip: '198.51.100.9' }), 30);
  assert.equal(metricValue(m, 'kong_siem_top_ip_requests', { service: 'orders', ip: 'other' }), 0);
  assert.equal(metricValue(m, 'kong_siem_top_ip_errors', { service: 'orders', ip: '198.51.100.9' }), 30);
  assert.equal(metricValue(m, 'kong_siem_unique_ips', { service: 'orders' }), 1);
  assert.equal(metricValue(m, 'kong_siem_window_requests', { service: 'orders' }), 30);
  assert.equal(metricValue(m, 'kong_siem_tracked_ips'), 4);
  assert.equal(metricValue(m, 'kong_siem_tracked_keys'), 5);
  // move the event clock 70 s on: the failures leave both windows
  await postJson(`${agg.url}/v1/records`, { records: [r(T0 + 203_000, '192.0.2.200', 200)] });
  m = await scrape(agg.url);
  assert.equal(metricValue(m, 'kong_siem_error_ip', { service: 'orders', ip: '198.51.100.9' }), undefined);
  assert.equal(metricValue(m, 'kong_siem_failure_spike', { service: 'orders', ip: '198.51.100.9' }), undefined);
  assert.equal(metricValue(m, 'kong_siem_top_ip_requests', { service: 'orders', ip: '198.51.100.9' }), undefined);
  assert.equal(metricValue(m, 'kong_siem_credential_ips', { service: 'orders', credential: 'shared' }), 3, 'credential window is 300 s');
  assert.doesNotMatch(m, /ip="198\.51\.100\.9"/);
});

test('eviction at SIEM_MAX_KEYS: state stays at the cap, evictions counted by table', async (t) => {
  const agg = await startAggregator({ SIEM_MAX_KEYS: '100', SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const records = [];
  for (let i = 0; i < 300; i++) records.push(r(T0 + i, `10.9.${i >> 8}.${i & 255}`, 200, i < 10 ? { credential: `c${i}` } : {}));
  assert.equal((await postJson(`${agg.url}/v1/records`, { records })).body.accepted, 300);
  const m = await scrape(agg.url);
  assert.equal(metricValue(m, 'kong_siem_tracked_keys'), 100);
  assert.equal(metricValue(m, 'kong_siem_tracked_ips'), 100);
  assert.equal(metricValue(m, 'kong_siem_evictions_total', { table: 'ip' }), 200);
  assert.equal(metricValue(m, 'kong_siem_evictions_total', { table: 'credential' }), 10);
});

test('late records (older than the longest window) are rejected with reason "late"', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  await postJson(`${agg.url}/v1/records`, { records: [r(T0 + 1_000_000, '10.0.0.1', 200)] });
  const res = await postJson(`${agg.url}/v1/records`, { records: [r(T0, '10.0.0.2', 200)] });
  assert.deepEqual(res.body, { accepted: 0, rejected: 1, rejected_by: { late: 1 } });
  assert.equal(metricValue(await scrape(agg.url), 'kong_siem_records_rejected_total', { reason: 'late' }), 1);
});

test('services beyond SIEM_MAX_SERVICES are rejected with reason "services"', async (t) => {
  const agg = await startAggregator({ SIEM_MAX_SERVICES: '2' });
  t.after(() => agg.close());
  const now = Date.now();
  const res = await postJson(`${agg.url}/v1/records`, {
    records: ['a', 'b', 'c', 'a'].map((service) => r(now, '10.0.0.1', 200, { service })),
  });
  assert.deepEqual(res.body, { accepted: 3, rejected: 1, rejected_by: { services: 1 } });
  assert.equal(metricValue(await scrape(agg.url), 'kong_siem_records_rejected_total', { reason: 'services' }), 1);
});

test('bad configuration stops the start with the variable named', async () => {
  const { loadConfig } = await import('../../aggregator/config');
  assert.throws(() => loadConfig({ SIEM_ERROR_RATIO: '1.5' }), /SIEM_ERROR_RATIO/);
  assert.throws(() => loadConfig({ SIEM_CLOCK: 'sundial' }), /SIEM_CLOCK/);
  assert.throws(() => loadConfig({ SIEM_PORT: 'http' }), /SIEM_PORT/);
  const c = loadConfig({ SIEM_ERROR_MIN: '7', PATH: '/bin' });
  assert.equal(c.defaults.error_min, 7);
  assert.equal(c.defaults.window_seconds, 60);
  assert.equal(c.port, 9457);
  assert.ok(Object.isFrozen(c));
});

// issue 16 (7): a retry after a lost answer is answered, not counted twice.
test('a batch id accepted within 10 minutes is answered 202 duplicate and not counted again; its `dropped` neither', async (t) => {
  let now = Date.now();
  const agg = await startAggregator({}, { wallNow: () => now });
  t.after(() => agg.close());
  const records = [0, 1, 2].map((i) => ({ ts: now - 1000 + i, ip: `192.0.2.${i + 1}`, status: 500, service: 'orders' }));
  const body = { batch: 'b7f3c2e0-batch-1', records, dropped: 4 };
  const first = await postJson(`${agg.url}/v1/records`, body);
  assert.equal(first.status, 202);
  assert.deepEqual(first.body, { accepted: 3, rejected: 0 });
  const again = await postJson(`${agg.url}/v1/records`, body);
  assert.equal(again.status, 202);
  assert.deepEqual(again.body, { accepted: 0, rejected: 0, duplicate: true });
  let text = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(text, 'kong_siem_records_received_total'), 3);
  assert.equal(metricValue(text, 'kong_siem_sender_dropped_total'), 4);
  assert.equal(metricValue(text, 'kong_siem_window_requests', { service: 'orders' }), 3);
  // another id, or none, is a new batch
  assert.deepEqual((await postJson(`${agg.url}/v1/records`, { ...body, batch: 'b7f3c2e0-batch-2', dropped: 0 })).body, {
    accepted: 3,
    rejected: 0,
  });
  assert.deepEqual((await postJson(`${agg.url}/v1/records`, { records })).body, { accepted: 3, rejected: 0 });
  // ten minutes on, the id is forgotten (the records are new ones then)
  now += 10 * 60_000 + 1;
  const later = [{ ts: now - 1000, ip: '192.0.2.9', status: 200, service: 'orders' }];
  assert.deepEqual((await postJson(`${agg.url}/v1/records`, { batch: 'b7f3c2e0-batch-1', records: later })).body, {
    accepted: 1,
    rejected: 0,
  });
  text = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(text, 'kong_siem_records_received_total'), 10);
  // an id over 64 characters is a bad body (an empty one is no id: contract-conformance.test.ts)
  const bad = await postJson(`${agg.url}/v1/records`, { batch: 'x'.repeat(65), records });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /batch/);
});
