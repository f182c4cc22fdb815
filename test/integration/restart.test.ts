// State survives restarts (SIEM_STATE_FILE): snapshot on close and on a
// timer, restore at start; corrupt or foreign snapshots are reported and
// ignored; SIGTERM finishes in-flight work, snapshots and exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, metricValue, postJson, spawnAggregator, startAggregator } from '../helpers/aggregator';
import { wireRec } from '../helpers/records';

const T0 = 1_717_799_280_000;
const r = wireRec;

function traffic() {
  const records = [];
  for (let i = 0; i < 5; i++) records.push(r(T0 + i * 10_000, '198.51.100.9', 200));
  for (let i = 0; i < 4; i++) records.push(r(T0 + 60_000 + i, `198.51.100.${20 + i}`, 200, { credential: 'shared' }));
  for (let i = 0; i < 30; i++) records.push(r(T0 + 130_000 + i * 100, '198.51.100.9', 401));
  for (let i = 0; i < 2000; i++)
    records.push(r(T0 + 100_000 + i * 20, `10.${i >> 8}.0.${i & 255}`, i % 50 ? 200 : 500, { service: i % 2 ? 'orders' : 'billing' }));
  return records.sort((a, b) => a.ts - b.ts);
}

async function view(url: string) {
  const findings = (await getJson(`${url}/v1/findings`)).body.findings;
  const top = (await getJson(`${url}/v1/top?service=orders&n=20`)).body;
  const m = await (await fetch(`${url}/metrics`)).text();
  return {
    findings,
    top,
    trackedKeys: metricValue(m, 'kong_siem_tracked_keys'),
    unique: metricValue(m, 'kong_siem_unique_ips', { service: 'billing' }),
  };
}

test('a restart with SIEM_STATE_FILE gives the same findings, top lists and gauges', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'siem-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { SIEM_CLOCK: 'event', SIEM_STATE_FILE: join(dir, 'state.ndjson') };
  const a = await startAggregator(env);
  await postJson(`${a.url}/v1/records`, { settings: { billing: { window_seconds: 120 } }, records: traffic() });
  const before = await view(a.url);
  // error_ip, credential_ips and auth_bruteforce (30 × 401: its counts are in the snapshot too)
  assert.equal(before.findings.length, 4);
  await a.close(); // snapshots on close
  assert.ok(existsSync(env.SIEM_STATE_FILE));

  const b = await startAggregator(env);
  t.after(() => b.close());
  assert.deepEqual(await view(b.url), before);
  assert.equal(b.state.settingsOf('billing').window_seconds, 120);
});

test('settings kept aside (services without a place) survive a restart, bounded by SIEM_MAX_SERVICES, least recently set dropped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'siem-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { SIEM_CLOCK: 'event', SIEM_MAX_SERVICES: '2', SIEM_STATE_FILE: join(dir, 'state.ndjson') };
  const a = await startAggregator(env);
  for (const [service, error_min] of [
    ['a', 5],
    ['b', 2],
    ['c', 3],
  ] as const)
    await postJson(`${a.url}/v1/records`, { settings: { [service]: { error_min } }, records: [] });
  await a.close();
  const lines = readFileSync(env.SIEM_STATE_FILE, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('["settings"'));
  assert.deepEqual(
    lines.map((l) => JSON.parse(l).slice(0, 2)),
    [
      ['settings', 'b'],
      ['settings', 'c'],
    ],
    'least recently set first, at most SIEM_MAX_SERVICES',
  );

  const b = await startAggregator(env);
  t.after(() => b.close());
  assert.deepEqual((await getJson(`${b.url}/v1/settings`)).body.services, {}, 'still no place');
  assert.equal(b.state.settingsOf('a').error_min, 20, 'dropped by the bound: the defaults');
  assert.equal(b.state.settingsOf('c').error_min, 3);
  await postJson(`${b.url}/v1/records`, { records: [0, 1].map((i) => r(T0 + i, '203.0.113.7', 401, { service: 'b' })) });
  assert.deepEqual(
    (await getJson(`${b.url}/v1/findings`)).body.findings.map((f: { service: string; count: number }) => [f.service, f.count]),
    [['b', 2]],
    "b's error_min 2 is in force with its first record",
  );
});

test('a version 3 snapshot (one sub-bucket length per service) restores on the one grid: 1 s series converted, a 1.5 s one left out', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'siem-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'state.ndjson');
  const at = T0 + 59_000;
  const lines = [
    {
      format: 'kong-siem-state',
      version: 3,
      saved_at: T0,
      clock: T0 + 60_000,
      services: [
        { name: 'orders', settings: {}, bucketMs: 1000 },
        { name: 'billing', settings: { window_seconds: 30 }, bucketMs: 1500 },
      ],
    },
    ['ip', 'orders', '203.0.113.7', at, [Math.floor(at / 1000), 25, 25, 0, 25], {}],
    ['ip', 'billing', '203.0.113.8', at, [Math.floor(at / 1500), 25, 25, 0, 25], {}],
  ];
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const b = await startAggregator({ SIEM_CLOCK: 'event', SIEM_STATE_FILE: file });
  t.after(() => b.close());
  assert.deepEqual(
    (await getJson(`${b.url}/v1/findings?type=error_ip`)).body.findings.map((f: { ip: string; count: number }) => [f.ip, f.count]),
    [['203.0.113.7', 25]],
  );
  assert.equal((await b.state.gauges()).trackedKeys, 1, "billing's 1.5 s series is not on the grid");
  assert.equal(b.state.settingsOf('billing').window_seconds, 30, 'its settings still restored');
});

test('foreign, future-version and headless snapshots are ignored: the start succeeds with empty state', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'siem-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'state.ndjson');
  // a good snapshot, to corrupt in several ways
  const a = await startAggregator({ SIEM_CLOCK: 'event', SIEM_STATE_FILE: file });
  await postJson(`${a.url}/v1/records`, { records: traffic() });
  await a.close();
  const good = readFileSync(file, 'utf8');
  const lines = good.split('\n');
  const header = JSON.parse(lines[0] as string);
  const cases: Record<string, string> = {
    // (a bad entry or a truncated end costs that entry alone: snapshot-file.test.ts)
    garbage: '\u0000\u0001binary junk\n{{{',
    foreign: JSON.stringify({ format: 'something-else', version: 1 }) + '\n',
    future: [JSON.stringify({ ...header, version: 99 }), ...lines.slice(1)].join('\n'),
    'truncated header': good.slice(0, 20),
    empty: '',
  };
  for (const [name, content] of Object.entries(cases)) {
    writeFileSync(file, content);
    const warnings: string[] = [];
    const b = await startAggregator(
      { SIEM_CLOCK: 'event', SIEM_STATE_FILE: file, SIEM_LOG_LEVEL: 'warn', SIEM_INGEST_TOKEN: 't' },
      { onLog: (l) => warnings.push(`${l.msg}: ${l.reason}`) },
    );
    assert.equal(warnings.length, 1, `${name}: ${warnings.join(' | ')}`);
    assert.match(warnings[0] as string, /^state snapshot ignored: .+/, name);
    const m = await (await fetch(`${b.url}/metrics`)).text();
    assert.equal(metricValue(m, 'kong_siem_tracked_keys'), 0, name);
    assert.equal((await getJson(`${b.url}/healthz`)).status, 200, name);
    await b.app.close();
  }
});

test('SIGTERM: the server finishes, snapshots and exits 0; the next start has the state', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'siem-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'state.ndjson');
  const start = () => spawnAggregator(t, { SIEM_CLOCK: 'event', SIEM_STATE_FILE: file });

  const first = start();
  const url = `http://127.0.0.1:${await first.port}`;
  assert.equal((await postJson(`${url}/v1/records`, { records: traffic() })).body.accepted, traffic().length);
  first.child.kill('SIGTERM');
  assert.equal((await first.exited).code, 0, first.log());
  assert.match(first.log(), /state snapshot written/);

  const second = start();
  const url2 = `http://127.0.0.1:${await second.port}`;
  const findings = (await getJson(`${url2}/v1/findings`)).body.findings;
  assert.equal(findings.length, 4, second.log());
  assert.match(second.log(), /state restored/);
  second.child.kill('SIGTERM');
  assert.equal((await second.exited).code, 0);
});

test("SIGTERM during a batch: the batch is answered 202 and its records are in the next start's state", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'siem-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'state.ndjson');
  const run = () => spawnAggregator(t, { SIEM_CLOCK: 'event', SIEM_STATE_FILE: file });
  const first = run();
  const port = await first.port;
  // a big batch (40k distinct IPs); SIGTERM as soon as its body is on the wire
  const records = Array.from({ length: 40_000 }, (_, i) => r(T0 + i, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 200));
  const payload = JSON.stringify({ records });
  const answer = new Promise<{ status: number; body: string }>((ok, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/records',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', fail);
    req.on('finish', () => first.child.kill('SIGTERM'));
    req.end(payload);
  });
  const res = await answer;
  assert.equal(res.status, 202);
  assert.deepEqual(JSON.parse(res.body), { accepted: 40_000, rejected: 0 });
  assert.equal((await first.exited).code, 0);

  const second = run();
  const port2 = await second.port;
  const m = await (await fetch(`http://127.0.0.1:${port2}/metrics`)).text();
  assert.equal(metricValue(m, 'kong_siem_tracked_ips'), 40_000);
  second.child.kill('SIGTERM');
  assert.equal((await second.exited).code, 0);
});
