// Access control, label hygiene, label bombs and connection limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { getJson, metricValue, postJson, spawnAggregator, startAggregator } from '../helpers/aggregator';

const T0 = 1_717_799_280_000;

test('read and metrics tokens guard findings, top and metrics; healthz stays open', async (t) => {
  const agg = await startAggregator({ SIEM_READ_TOKEN: 'reader', SIEM_METRICS_TOKEN: 'scraper' });
  t.after(() => agg.close());
  for (const path of ['/v1/findings', '/v1/top?service=orders']) {
    assert.equal((await getJson(agg.url + path)).status, 401, path);
    assert.equal((await getJson(agg.url + path, { authorization: 'Bearer scraper' })).status, 401, path);
    assert.equal((await getJson(agg.url + path, { authorization: 'Bearer reader' })).status, 200, path);
  }
  assert.equal((await fetch(`${agg.url}/metrics`)).status, 401);
  assert.equal((await fetch(`${agg.url}/metrics`, { headers: { authorization: 'Bearer scraper' } })).status, 200);
  assert.equal((await getJson(`${agg.url}/healthz`)).status, 200);
  // ingest stays open when only read/metrics tokens are set
  assert.equal((await postJson(`${agg.url}/v1/records`, { records: [] })).status, 202);
});

test('hostile strings reach labels escaped and bounded: the exposition stays parseable', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const nasty = ['a"b', 'line\nbreak', 'back\\slash', 'lone \ud800 surrogate', '}{ ip="x"', 'ü€😀'];
  const records = [];
  for (const service of nasty) {
    for (let i = 0; i < 25; i++) records.push({ ts: T0 + i, ip: '192.0.2.1', status: 500, service });
    for (let i = 0; i < 3; i++)
      records.push({ ts: T0 + i, ip: `198.51.100.${i}`, status: 200, service, credential: `cred"\n\\${service}` });
  }
  assert.equal((await postJson(`${agg.url}/v1/records`, { records })).body.accepted, records.length);
  const text = await (await fetch(`${agg.url}/metrics`)).text();
  const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? -?[0-9.e+-]+$/;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    assert.match(line, sample);
  }
  // every service's flagged series is there, labels unescaped to the original (lone surrogate aside)
  for (const service of nasty) {
    const escaped = service.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
    const want = escaped.replace('\ud800', '\ufffd');
    assert.ok(
      text.includes(`kong_siem_error_ip{service="${want}",ip="192.0.2.1"} 25`) ||
        text.includes(`kong_siem_error_ip{service="${escaped}",ip="192.0.2.1"} 25`),
      service,
    );
  }
});

test('label bombs: distinct services, IPs and credentials never grow /metrics past the contract bounds', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_MAX_SERVICES: '20', SIEM_MAX_FINDINGS: '50', SIEM_MAX_KEYS: '50000' });
  t.after(() => agg.close());
  for (let batch = 0; batch < 10; batch++) {
    const records = [];
    for (let i = 0; i < 5000; i++) {
      const n = batch * 5000 + i;
      records.push({
        ts: T0 + n,
        ip: `10.${n >> 16}.${(n >> 8) & 255}.${n & 255}`,
        status: n % 2 ? 401 : 200,
        service: `svc-${n % 40}`,
        credential: `c-${n % 700}`,
      });
    }
    // and a flood of error IPs that all qualify
    for (let i = 0; i < 200; i++)
      for (let k = 0; k < 20; k++)
        records.push({ ts: T0 + batch * 5000 + 4999, ip: `172.20.${batch}.${i}`, status: 500, service: 'svc-1' });
    assert.equal((await postJson(`${agg.url}/v1/records`, { records })).status, 202);
  }
  const text = await (await fetch(`${agg.url}/metrics`)).text();
  const count = (name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`)).length;
  assert.equal(count('kong_siem_window_requests'), 20, 'services capped');
  assert.ok(count('kong_siem_top_ip_requests') <= 20 * 11);
  assert.ok(count('kong_siem_top_ip_errors') <= 20 * 11);
  const flagged = count('kong_siem_error_ip') + count('kong_siem_credential_ips') + count('kong_siem_failure_spike');
  assert.equal(flagged, 50, 'findings capped at SIEM_MAX_FINDINGS');
  assert.ok(metricValue(text, 'kong_siem_records_rejected_total', { reason: 'services' })! > 0);
});

test('a client that never finishes its request is cut off; connections beyond the cap are refused', async (t) => {
  const agg = await startAggregator({ SIEM_REQUEST_TIMEOUT_MS: '300', SIEM_MAX_CONNECTIONS: '3', SIEM_MAX_CONNECTIONS_PER_IP: '3' });
  t.after(() => agg.close());
  const port = Number(new URL(agg.url).port);
  // slow loris: headers never finished (408), or a body that never comes (cut)
  const hang = (payload: string) =>
    new Promise<{ got: string; byServer: boolean }>((resolve) => {
      let byServer = true;
      const s = connect(port, '127.0.0.1', () => s.write(payload));
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('close', () => resolve({ got, byServer }));
      setTimeout(() => {
        byServer = false;
        s.destroy();
      }, 10_000).unref();
    });
  const headers = await hang('POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: app');
  assert.ok(headers.byServer);
  assert.match(headers.got, /^HTTP\/1\.1 408/);
  const body = await hang('POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"rec');
  assert.ok(body.byServer, 'the server closed the connection');

  // three idle sockets fill the cap; a fourth is dropped at once
  const idle = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise<ReturnType<typeof connect>>((ok) => {
          const s = connect(port, '127.0.0.1', () => ok(s));
        }),
    ),
  );
  t.after(() => idle.forEach((s) => s.destroy()));
  const fourth = await new Promise<string>((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
    setTimeout(() => s.destroy(), 10_000).unref();
  });
  assert.equal(fourth, '', 'refused without an answer');
  idle.forEach((s) => s.destroy());
  // once they are gone the server answers again
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    ok = await fetch(`${agg.url}/healthz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (!ok) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(ok);
});

// red team: an operator setting SIEM_READ_TOKEN to guard the findings left them readable on /metrics
test('a read token with an open /metrics is warned about at start: /metrics names the flagged IPs without it', async (t) => {
  for (const [env, expected] of [
    [{ SIEM_READ_TOKEN: 'reader' }, 1],
    [{ SIEM_READ_TOKEN: 'reader', SIEM_METRICS_TOKEN: 'scraper' }, 0],
    [{}, 0],
  ] as const) {
    const warnings: string[] = [];
    const agg = await startAggregator(
      { SIEM_LOG_LEVEL: 'warn', SIEM_INGEST_TOKEN: 'x', ...env },
      { onLog: (l) => warnings.push(String(l.msg)) },
    );
    t.after(() => agg.close());
    assert.equal(warnings.filter((w) => /SIEM_METRICS_TOKEN is not/.test(w)).length, expected, JSON.stringify(env));
    if (expected === 1) {
      const now = Date.now();
      const records = Array.from({ length: 30 }, (_, i) => ({ ts: now - i, ip: '203.0.113.9', status: 401, service: 'orders' }));
      assert.equal((await postJson(`${agg.url}/v1/records`, { records }, { authorization: 'Bearer x' })).status, 202);
      assert.equal((await fetch(`${agg.url}/v1/findings`)).status, 401);
      assert.match(await (await fetch(`${agg.url}/metrics`)).text(), /kong_siem_error_ip\{service="orders",ip="203\.0\.113\.9"\}/);
    }
  }
});

test('an open ingest is warned about at start; a token silences the warning', async (t) => {
  for (const [env, expected] of [
    [{}, 1],
    [{ SIEM_INGEST_TOKEN: 'x' }, 0],
  ] as const) {
    const warnings: string[] = [];
    const agg = await startAggregator({ SIEM_LOG_LEVEL: 'warn', ...env }, { onLog: (l) => warnings.push(String(l.msg)) });
    t.after(() => agg.close());
    assert.equal(warnings.filter((w) => /SIEM_INGEST_TOKEN is not set/.test(w)).length, expected);
  }
});

test("client-set strings reach the aggregator's log lines with DEL, C1 and bidi controls as escapes, the same values once parsed", async (t) => {
  // A service name from the ingest token holder: U+009B is a CSI to xterm (erase the screen, set the title);
  // U+2066/U+202E, a bidi isolate and override, shown raw reorder the rest of the line.
  const service = 'orders\u009b2J\u009d0;all clear\u0007\u007f\u2066\u202e';
  const a = spawnAggregator(t, { SIEM_LOG_LEVEL: 'info' });
  const url = `http://127.0.0.1:${await a.port}/v1/records`;
  const now = Date.now();
  // a rejection sample, then a settings change
  assert.equal((await postJson(url, { records: [{ ts: now, ip: '192.0.2.1', status: 999, service }] })).status, 202);
  assert.equal((await postJson(url, { records: [{ ts: now, ip: '192.0.2.1', status: 200, service }] })).status, 202);
  assert.equal((await postJson(url, { records: [], settings: { [service]: { error_min: 7 } } })).status, 202);
  a.child.kill('SIGTERM');
  await a.exited;
  const out = a.log();
  assert.doesNotMatch(out, /[\u007f-\u009f\u2066\u202e]/, 'a raw DEL, C1 or bidi control in the log');
  const lines = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(
    lines.some((l) => String(l.sample).includes(JSON.stringify(service).slice(1, -1))),
    'the rejection sample names it',
  );
  assert.ok(
    lines.some((l) => l.service === service && /settings changed/.test(String(l.msg))),
    'the settings change names it',
  );
});
