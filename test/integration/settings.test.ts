// issue 13 (1): detection settings as configuration, against a real
// aggregator on loopback. Settings changes never wipe what a service has
// seen (one bucket grid whatever the settings), SIEM_SETTINGS=locked ignores batches'
// settings, GET /v1/settings says what is in force, each change is logged
// once, and settings never take a place in the services table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../aggregator/config';
import { SETTING_NAMES } from '../../common/settings';
import { getJson, postJson, spawnAggregator, startAggregator } from '../helpers/aggregator';

const T0 = 1_717_799_280_000;

function failures(n: number, from: number, ip: string, service = 'orders') {
  return Array.from({ length: n }, (_, i) => ({ ts: from + i, ip, status: 401, service }));
}

/** log lines of an aggregator, by message */
function logBook() {
  const lines: Record<string, unknown>[] = [];
  return {
    lines,
    onLog: (l: Record<string, unknown>) => lines.push(l),
    matching: (re: RegExp) => lines.filter((l) => re.test(String(l.msg))),
  };
}

// The case, with the default burst window (10 s, which sets the grid
// by itself since error_ip's bursts), and with a 20 s burst window, where the
// two senders' windows ask for different grids (2 s and 1.5 s).
for (const burst of [undefined, 20]) {
  test(`two senders alternating window_seconds 60 and 30 for one service (error_burst_seconds ${burst ?? 'default'}): an IP with 100 failures is found and listed (no wipe)`, async (t) => {
    const agg = await startAggregator({ SIEM_CLOCK: 'event', ...(burst ? { SIEM_ERROR_BURST_SECONDS: String(burst) } : {}) });
    t.after(() => agg.close());
    for (let i = 0; i < 10; i++) {
      const window = i % 2 === 0 ? 60 : 30;
      const r = await postJson(`${agg.url}/v1/records`, {
        settings: { orders: { window_seconds: window } },
        records: failures(10, T0 + i * 1000, '203.0.113.7'),
      });
      assert.deepEqual(r.body, { accepted: 10, rejected: 0 });
    }
    const findings = (await getJson(`${agg.url}/v1/findings?type=error_ip`)).body.findings;
    assert.deepEqual(
      findings.map((f: { ip: string; count: number }) => [f.ip, f.count]),
      [['203.0.113.7', 100]],
    );
    const top = (await getJson(`${agg.url}/v1/top?service=orders&by=errors`)).body;
    assert.equal(top.window_seconds, 30, 'the newest settings are in force');
    assert.deepEqual(top.items, [{ ip: '203.0.113.7', count: 100 }]);
  });
}

test("window 60 s -> 5 s -> 60 s keeps the IP's failures and its finding (one grid: no change restarts a history)", async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  await postJson(`${agg.url}/v1/records`, { records: failures(30, T0, '203.0.113.7') });
  const errorIp = async () =>
    (await getJson(`${agg.url}/v1/findings?type=error_ip`)).body.findings.map((f: { ip: string; count: number }) => [f.ip, f.count]);
  assert.deepEqual(await errorIp(), [['203.0.113.7', 30]]);
  // 5 s windows read 0.1 s sub-buckets, 60 s ones 1 s sub-buckets: the same history
  await postJson(`${agg.url}/v1/records`, {
    settings: { orders: { window_seconds: 5, spike_window_seconds: 5, error_burst_seconds: 5 } },
    records: failures(3, T0 + 1000, '203.0.113.7'),
  });
  const top = (await getJson(`${agg.url}/v1/top?service=orders&by=errors`)).body;
  assert.equal(top.window_seconds, 5);
  assert.deepEqual(top.items, [{ ip: '203.0.113.7', count: 33 }]);
  await postJson(`${agg.url}/v1/records`, { settings: { orders: { window_seconds: 60 } }, records: failures(1, T0 + 2000, '203.0.113.7') });
  assert.deepEqual((await getJson(`${agg.url}/v1/top?service=orders&by=errors`)).body.items, [{ ip: '203.0.113.7', count: 34 }]);
  assert.deepEqual(await errorIp(), [['203.0.113.7', 34]]);
});

test('GET /v1/settings answers exactly source, defaults and services, each with every detection field; read token required', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_READ_TOKEN: 'reader', SIEM_TOP_N: '7' });
  t.after(() => agg.close());
  await postJson(`${agg.url}/v1/records`, { settings: { orders: { error_min: 9 } }, records: failures(1, T0, '192.0.2.1') });
  assert.equal((await getJson(`${agg.url}/v1/settings`)).status, 401);
  const { status, body } = await getJson(`${agg.url}/v1/settings`, { authorization: 'Bearer reader' });
  assert.equal(status, 200);
  assert.deepEqual(Object.keys(body).sort(), ['defaults', 'services', 'source']);
  assert.equal(body.source, 'batch');
  assert.deepEqual(Object.keys(body.defaults).sort(), [...SETTING_NAMES].sort());
  assert.equal(body.defaults.top_n, 7);
  assert.deepEqual(Object.keys(body.services), ['orders']);
  assert.deepEqual(body.services.orders, { ...body.defaults, error_min: 9 });
});

test('batch: each settings change is logged once with the fields old -> new, and is visible in GET /v1/settings (error_min 1e6)', async (t) => {
  const log = logBook();
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_LOG_LEVEL: 'info' }, { onLog: log.onLog });
  t.after(() => agg.close());
  for (let i = 0; i < 5; i++) {
    const r = await postJson(`${agg.url}/v1/records`, {
      settings: { orders: { error_min: 50 } },
      records: failures(1, T0 + i, '192.0.2.1'),
    });
    assert.equal(r.body.accepted, 1);
  }
  // an http-log-fed service (no settings of its own), then one settings-only POST turning its detection off
  await postJson(`${agg.url}/v1/kong-log`, {
    client_ip: '192.0.2.9',
    started_at: T0 + 10,
    response: { status: 401 },
    service: { name: 'billing' },
  });
  for (let i = 0; i < 3; i++) await postJson(`${agg.url}/v1/records`, { settings: { billing: { error_min: 1_000_000 } }, records: [] });
  const changes = log.matching(/^settings changed/);
  assert.deepEqual(
    changes.map((l) => [l.service, l.changed, l.level]),
    [
      ['orders', { error_min: [20, 50] }, 30],
      ['billing', { error_min: [20, 1_000_000] }, 30],
    ],
  );
  assert.match(String(changes[1]?.msg), /"billing": error_min 20 -> 1000000/);
  const seen = (await getJson(`${agg.url}/v1/settings`)).body;
  assert.equal(seen.services.billing.error_min, 1_000_000);
  assert.equal(seen.services.orders.error_min, 50);
});

test("locked: batch settings are ignored (records accepted, nothing rejected, one warning), the file's settings rule", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'siem-settings-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'settings.json');
  writeFileSync(file, JSON.stringify({ orders: { error_min: 5, error_ratio: 0.5 }, quiet: { top_n: 3 } }));
  const log = logBook();
  const agg = await startAggregator(
    { SIEM_CLOCK: 'event', SIEM_LOG_LEVEL: 'info', SIEM_SETTINGS: 'locked', SIEM_SETTINGS_FILE: file },
    { onLog: log.onLog },
  );
  t.after(() => agg.close());
  for (let i = 0; i < 3; i++) {
    const r = await postJson(`${agg.url}/v1/records`, {
      settings: { orders: { error_min: 1_000_000 }, billing: { error_min: 1_000_000 } },
      records: [...failures(2, T0 + 10 * i, '203.0.113.7'), ...failures(7, T0 + 10 * i, '198.51.100.1', 'billing')],
    });
    assert.deepEqual(r.body, { accepted: 9, rejected: 0 });
  }
  const found = (await getJson(`${agg.url}/v1/findings?type=error_ip`)).body.findings.map(
    (f: { service: string; ip: string }) => `${f.service} ${f.ip}`,
  );
  // orders at the file's error_min 5 (6 failures), billing at the default 20 (21 failures)
  assert.deepEqual(found.sort(), ['billing 198.51.100.1', 'orders 203.0.113.7']);
  const { body } = await getJson(`${agg.url}/v1/settings`);
  assert.equal(body.source, 'locked');
  assert.equal(body.services.orders.error_min, 5);
  assert.equal(body.services.billing.error_min, 20);
  assert.equal(body.services.quiet.top_n, 3, 'a service of the file is listed before its first record');
  assert.equal(log.matching(/^settings changed/).length, 0);
  const ignored = log.matching(/ignored \(SIEM_SETTINGS=locked\)/);
  assert.equal(ignored.length, 1, 'told once, not once per batch');
  assert.equal(ignored[0]?.level, 40);
});

test("locked without a file: the environment's defaults rule every service", async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_SETTINGS: 'locked', SIEM_ERROR_MIN: '4' });
  t.after(() => agg.close());
  await postJson(`${agg.url}/v1/records`, { settings: { orders: { error_min: 1_000_000 } }, records: failures(4, T0, '203.0.113.7') });
  assert.equal((await getJson(`${agg.url}/v1/findings`)).body.findings.length, 1);
  const { body } = await getJson(`${agg.url}/v1/settings`);
  assert.deepEqual(body.services, { orders: body.defaults });
});

test('a bad SIEM_SETTINGS_FILE stops the start naming the service, the field and its range', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'siem-settings-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'settings.json');
  const cases: [string, RegExp][] = [
    [JSON.stringify({ orders: { error_min: 0 } }), /service "orders": error_min=0: expected an integer from 1 to 1000000/],
    [JSON.stringify({ orders: { error_ratio: 1.5 } }), /service "orders": error_ratio=1\.5: expected a number from 0 to 1/],
    [JSON.stringify({ orders: { window_seconds: 2.5 } }), /window_seconds=2\.5: expected an integer from 1 to 86400/],
    [JSON.stringify({ orders: { error_minimum: 5 } }), /service "orders": unknown setting "error_minimum"/],
    [JSON.stringify({ orders: 5 }), /service "orders": expected an object of settings/],
    [JSON.stringify([]), /expected a JSON object/],
    ['{"orders": ', /not JSON/],
    [JSON.stringify({ ['x'.repeat(257)]: {} }), /a service name is 1 to 256 characters/],
  ];
  for (const [text, want] of cases) {
    writeFileSync(file, text);
    assert.throws(
      () => loadConfig({ SIEM_SETTINGS: 'locked', SIEM_SETTINGS_FILE: file }),
      (e: Error) => e.message.startsWith(`invalid configuration: SIEM_SETTINGS_FILE=${file}: `) && want.test(e.message),
      text,
    );
  }
  assert.throws(
    () => loadConfig({ SIEM_SETTINGS: 'locked', SIEM_SETTINGS_FILE: join(dir, 'missing.json') }),
    /SIEM_SETTINGS_FILE=.*missing\.json: cannot read it \(ENOENT\)/,
  );
  assert.throws(() => loadConfig({ SIEM_SETTINGS_FILE: file }), /SIEM_SETTINGS_FILE is read only with SIEM_SETTINGS=locked/);
  assert.throws(() => loadConfig({ SIEM_SETTINGS: 'open' }), /SIEM_SETTINGS="open": expected one of batch, locked/);
  writeFileSync(file, JSON.stringify({ orders: { error_min: 0 } }));
  const s = spawnAggregator(t, { SIEM_SETTINGS: 'locked', SIEM_SETTINGS_FILE: file });
  s.port.catch(() => {}); // it never listens
  assert.equal((await s.exited).code, 2);
  assert.deepEqual(
    s
      .log()
      .split('\n')
      .filter((l) => l.trim() !== ''),
    [`kong-siem: invalid configuration: SIEM_SETTINGS_FILE=${file}: service "orders": error_min=0: expected an integer from 1 to 1000000`],
  );
});

test('a settings-only POST naming 100 junk services takes no place: real services still get their records counted', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_MAX_SERVICES: '5' });
  t.after(() => agg.close());
  // settings for a service before its first record are kept for it ...
  await postJson(`${agg.url}/v1/records`, { settings: { early: { error_min: 2 } }, records: [] });
  const junk = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`junk-${i}`, { error_min: 1_000_000 }]));
  const r = await postJson(`${agg.url}/v1/records`, { settings: junk, records: [] });
  assert.deepEqual(r.body, { accepted: 0, rejected: 0 });
  const real = ['a', 'b', 'c', 'd'].flatMap((s) => failures(3, T0, '192.0.2.1', s));
  assert.deepEqual((await postJson(`${agg.url}/v1/records`, { records: real })).body, { accepted: 12, rejected: 0 });
  // ... but the settings aside are bounded (SIEM_MAX_SERVICES entries, least recently set forgotten first)
  assert.deepEqual((await postJson(`${agg.url}/v1/records`, { records: failures(3, T0, '192.0.2.1', 'early') })).body, {
    accepted: 3,
    rejected: 0,
  });
  const { body } = await getJson(`${agg.url}/v1/settings`);
  assert.deepEqual(Object.keys(body.services).sort(), ['a', 'b', 'c', 'd', 'early']);
  assert.equal(body.services.early.error_min, 20, '100 junk entries pushed the early settings out');
  // the table is full of services with records: a sixth is refused
  assert.deepEqual((await postJson(`${agg.url}/v1/records`, { records: failures(1, T0, '192.0.2.1', 'f') })).body, {
    accepted: 0,
    rejected: 1,
    rejected_by: { services: 1 },
  });
});

test("settings sent before a service's first record take effect with it", async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_MAX_SERVICES: '2' });
  t.after(() => agg.close());
  await postJson(`${agg.url}/v1/records`, { settings: { orders: { error_min: 2 } }, records: [] });
  assert.deepEqual((await getJson(`${agg.url}/v1/settings`)).body.services, {}, 'no place before a record');
  await postJson(`${agg.url}/v1/records`, { records: failures(2, T0, '203.0.113.7') });
  assert.equal((await getJson(`${agg.url}/v1/findings`)).body.findings.length, 1);
});

test('a service with no record for its longest window gives its place back, its settings kept aside', async (t) => {
  let now = T0;
  const agg = await startAggregator({ SIEM_MAX_SERVICES: '1', SIEM_SWEEP_INTERVAL_MS: '60000' }, { wallNow: () => now });
  t.after(() => agg.close());
  const post = (records: unknown[], settings?: unknown) =>
    postJson(`${agg.url}/v1/records`, settings ? { settings, records } : { records });
  assert.equal(
    (
      await post(
        failures(3, now, '192.0.2.1', 'a').map((r) => ({ ...r, credential: 'c1' })),
        { a: { error_min: 2 } },
      )
    ).body.accepted,
    3,
  );
  assert.deepEqual((await post(failures(1, now, '192.0.2.1', 'b'))).body.rejected_by, { services: 1 });
  // the longest window of the defaults: spike window + baseline = 360 s
  now = T0 + 359_000;
  await agg.state.sweep();
  assert.deepEqual((await post(failures(1, now, '192.0.2.1', 'b'))).body.rejected_by, { services: 1 }, 'a is not idle yet');
  now = T0 + 361_000;
  await agg.state.sweep();
  assert.deepEqual((await post(failures(1, now, '192.0.2.1', 'b'))).body, { accepted: 1, rejected: 0 });
  assert.deepEqual(Object.keys((await getJson(`${agg.url}/v1/settings`)).body.services), ['b']);
  // b idles out in turn; a comes back with the settings it had
  now += 361_000;
  await agg.state.sweep();
  assert.deepEqual((await post(failures(2, now, '192.0.2.2', 'a'))).body, { accepted: 2, rejected: 0 });
  assert.equal((await getJson(`${agg.url}/v1/settings`)).body.services.a.error_min, 2);
  assert.deepEqual(
    (await getJson(`${agg.url}/v1/findings`)).body.findings.map((f: { ip: string }) => f.ip),
    ['192.0.2.2'],
  );
});

// red team: settings were gathered into a plain object, where the key __proto__ set its prototype
test('a service named __proto__ takes its batch settings and is listed in GET /v1/settings like any other', async (t) => {
  const agg = await startAggregator();
  t.after(() => agg.close());
  const now = Date.now();
  const body = `{"settings":{"__proto__":{"error_min":5},"orders":{"error_min":7}},"records":[{"ts":${now},"ip":"192.0.2.1","status":500,"service":"__proto__"},{"ts":${now},"ip":"192.0.2.1","status":500,"service":"orders"}]}`;
  assert.deepEqual((await postJson(`${agg.url}/v1/records`, body)).body, { accepted: 2, rejected: 0 });
  const s = (await getJson(`${agg.url}/v1/settings`)).body;
  assert.deepEqual(Object.keys(s.services).sort(), ['__proto__', 'orders']);
  assert.equal(s.services.orders.error_min, 7);
  assert.equal(Object.getOwnPropertyDescriptor(s.services, '__proto__')?.value.error_min, 5);
});
