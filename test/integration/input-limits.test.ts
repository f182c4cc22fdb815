// Issue 13.5/13.6: one definition of every limit (ingest, snapshot save and
// restore), names normalised before they key anything, credentials
// fingerprinted whole, the batch shape checked as sent, and rejections told
// to the sender (`rejected_by`) and to the log (a sample per reason).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, metricValue, postJson, startAggregator } from '../helpers/aggregator';
import { kongLog } from '../helpers/kong-log-fixture';

const T0 = 1_717_799_280_000;
const EMOJI_200 = '😀'.repeat(200); // 200 code points, 400 UTF-16 units

test('a service and a credential of 200 emoji pass ingest and survive a restart (code points at ingest, save and restore)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'siem-limits-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { SIEM_CLOCK: 'event', SIEM_STATE_FILE: join(dir, 'state.ndjson') };
  const a = await startAggregator(env);
  const records = [];
  for (let i = 0; i < 3; i++) records.push({ ts: T0 + i, ip: `198.51.100.${i}`, status: 200, service: EMOJI_200, credential: EMOJI_200 });
  for (let i = 0; i < 3; i++) records.push({ ts: T0 + i, ip: `203.0.113.${i}`, status: 200, service: 'orders' });
  assert.equal((await postJson(`${a.url}/v1/records`, { records })).body.accepted, 6);
  const before = (await getJson(`${a.url}/v1/findings`)).body.findings;
  assert.equal(before.length, 1, 'the emoji credential is seen from 3 IPs');
  await a.close();

  const b = await startAggregator(env);
  t.after(() => b.close());
  assert.equal((await b.state.gauges()).trackedKeys, 7, 'every key restored, the emoji ones and the others');
  assert.deepEqual((await getJson(`${b.url}/v1/findings`)).body.findings, before);
});

test('two services differing only in a lone surrogate are one service: one label set in /metrics', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const records = [
    { ts: T0, ip: '192.0.2.1', status: 200, service: 'svc\ud800' },
    { ts: T0 + 1, ip: '192.0.2.2', status: 200, service: 'svc\udc00' },
    { ts: T0 + 2, ip: '192.0.2.3', status: 200, service: 'svc\ufffd' },
  ];
  // JSON.stringify writes lone surrogates as \ud800 escapes, as a hostile sender would
  assert.equal((await postJson(`${agg.url}/v1/records`, { records, settings: { 'svc\udbff': { top_n: 5 } } })).body.accepted, 3);
  const text = await (await fetch(`${agg.url}/metrics`)).text();
  const lines = text.split('\n').filter((l) => l.startsWith('kong_siem_window_requests{'));
  assert.deepEqual(lines, ['kong_siem_window_requests{service="svc\ufffd"} 3']);
  assert.equal(agg.state.settingsOf('svc\ufffd').top_n, 5, 'settings named with a lone surrogate reach the same service');
});

test('long credentials are fingerprinted whole: tokens sharing their first 256 characters stay distinct', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const prefix = 'x'.repeat(256);
  const logs = [0, 1, 2].map((i) => kongLog({ ip: `198.51.100.${i}`, startedAt: T0 + i, credentialId: `${prefix}-token-${i}` }));
  const r = await postJson(`${agg.url}/v1/kong-log`, logs);
  assert.equal(r.body.accepted, 3);
  const findings = (await getJson(`${agg.url}/v1/findings?type=credential_ips`)).body.findings;
  assert.deepEqual(findings, [], 'three distinct credentials, one IP each: no shared credential');
  assert.equal((await agg.state.gauges()).trackedKeys, 6, 'three IP keys and three credential keys');
});

// red team 2: refused as "length", a client's long credential header hid its every failure from every rule
test('with SIEM_HASH_CREDENTIALS=false, a raw credential over 256 code points is fingerprinted whole: the record counts', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_HASH_CREDENTIALS: 'false', SIEM_HASH_KEY: 'k' });
  t.after(() => agg.close());
  // 30 failed logins of one client, each with its own 300-character x-auth-sub header
  const guesses = Array.from({ length: 30 }, (_, i) =>
    kongLog({ ip: '198.51.100.1', startedAt: T0 + i, status: 401, consumer: null, headers: { 'x-auth-sub': `${'y'.repeat(300)}${i}` } }),
  );
  const r = await postJson(`${agg.url}/v1/kong-log`, [...guesses, kongLog({ ip: '198.51.100.2', startedAt: T0, credentialId: 'short' })]);
  assert.deepEqual(r.body, { accepted: 31, rejected: 0 });
  const types = (await getJson(`${agg.url}/v1/findings`)).body.findings.map((f: { type: string; ip?: string }) => `${f.type} ${f.ip}`);
  assert.ok(types.includes('error_ip 198.51.100.1') && types.includes('auth_bruteforce 198.51.100.1'), types.join(', '));
  // the long values are 30 credentials (fingerprints, never cut), the short one raw
  assert.equal((await agg.state.gauges()).trackedKeys, 2 + 31);
});

test('"dropped" must be an integer 0..2^32: anything else is 400 and the counter is untouched', async (t) => {
  const agg = await startAggregator();
  t.after(() => agg.close());
  for (const dropped of [1e308, 2 ** 32 + 1, -1, 1.5, '7', true]) {
    const r = await postJson(`${agg.url}/v1/records`, { records: [], dropped });
    assert.equal(r.status, 400, `dropped ${String(dropped)}`);
    assert.ok(typeof r.body.error === 'string');
  }
  assert.equal((await postJson(`${agg.url}/v1/records`, { records: [], dropped: 2 ** 32 })).status, 202);
  const text = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(text, 'kong_siem_sender_dropped_total'), 2 ** 32);
});

test('"records" must be an array: a scalar or an object is 400, never coerced into a batch', async (t) => {
  const agg = await startAggregator();
  t.after(() => agg.close());
  for (const records of [5, 'x', { ts: T0 }, null, true]) {
    const r = await postJson(`${agg.url}/v1/records`, { records });
    assert.equal(r.status, 400, `records ${JSON.stringify(records)}`);
  }
  const text = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(text, 'kong_siem_records_received_total'), 0, 'nothing counted as received');
});

test('every 202 with rejections says why in rejected_by; one without has none', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_MAX_SERVICES: '1' });
  t.after(() => agg.close());
  const ok = await postJson(`${agg.url}/v1/records`, { records: [{ ts: T0, ip: '192.0.2.1', status: 200, service: 'a' }] });
  assert.deepEqual(ok.body, { accepted: 1, rejected: 0 });
  const r = await postJson(`${agg.url}/v1/records`, {
    settings: { a: { window_seconds: 0 } },
    records: [
      { ts: T0 + 1, ip: '192.0.2.1', status: 200, service: 'a' },
      { ts: T0 + 1, ip: 'not-an-ip', status: 200, service: 'a' },
      { ts: T0 + 1, ip: '192.0.2.1', status: 700, service: 'a' },
      { ts: T0 + 1, ip: '192.0.2.1', status: 200, service: 'a', route: 'r'.repeat(257) },
      { ts: T0 + 1, ip: '192.0.2.1', service: 'a' },
      { ts: T0 + 1, ip: '192.0.2.1', status: 200, service: 'b' },
      { ts: T0 - 3_600_000, ip: '192.0.2.1', status: 200, service: 'a' },
      { ts: T0 + 3_600_000, ip: '192.0.2.1', status: 200, service: 'a' },
    ],
  });
  assert.equal(r.status, 202);
  assert.equal(r.body.accepted, 1);
  assert.deepEqual(r.body.rejected_by, { settings: 1, ip: 1, status: 1, length: 1, invalid: 1, services: 1, late: 1, future: 1 });
  assert.equal(r.body.rejected, 7, 'settings entries are counted by reason, not as records');
});

test('the first rejection of each reason is logged with a sample, then at most once a minute per reason', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_LOG_LEVEL: 'warn' }, { onLog: (l) => lines.push(l) });
  t.after(() => agg.close());
  const bad = { ts: T0, ip: 'not-an-ip', status: 200, service: 'orders', credential: 'secret-raw-token' };
  for (let i = 0; i < 3; i++) await postJson(`${agg.url}/v1/records`, { records: [bad, { ...bad, status: 99, ip: '192.0.2.1' }] });
  const byReason = (reason: string) => lines.filter((l) => l.reason === reason && /rejected/.test(String(l.msg)));
  assert.equal(byReason('ip').length, 1, 'one line for three batches');
  assert.equal(byReason('status').length, 1);
  const line = byReason('ip')[0] as Record<string, unknown>;
  assert.match(String(line.msg), /first record rejected for reason "ip"/);
  assert.match(String(line.sample), /not-an-ip/);
  assert.doesNotMatch(String(line.sample), /secret-raw-token/, 'a credential is never logged, only its length');
});

test('a rejected record JSON cannot write back (nested past the stack) is sampled all the same: the batch is answered 202, its retry a duplicate', async () => {
  const deep = `${'['.repeat(6000)}${']'.repeat(6000)}`;
  const good = JSON.stringify({ ts: T0, ip: '192.0.2.1', status: 401, service: 'orders' });
  // String() of these throws too: an object with a `toString` key, an array nested past the stack
  const cases = [
    { bad: `{"toString":1,"valueOf":2,"x":${deep}}`, reason: 'invalid' },
    { bad: deep, reason: 'invalid' },
    { bad: `{"ts":${T0},"ip":"x","status":401,"service":"orders","toString":1,"x":${deep}}`, reason: 'ip' },
  ];
  for (const { bad, reason } of cases) {
    const lines: Record<string, unknown>[] = [];
    const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_LOG_LEVEL: 'warn' }, { onLog: (l) => lines.push(l) });
    try {
      const body = `{"batch":"b1","records":[${good},${bad}]}`;
      const first = await postJson(`${agg.url}/v1/records`, body);
      assert.deepEqual(first, { status: 202, body: { accepted: 1, rejected: 1, rejected_by: { [reason]: 1 } } });
      const retry = await postJson(`${agg.url}/v1/records`, body);
      assert.deepEqual(retry.body, { accepted: 0, rejected: 0, duplicate: true }, 'the good record is counted once');
      const line = lines.find((l) => l.reason === reason);
      assert.match(String(line?.sample), /<array>/);
      const m = await (await fetch(`${agg.url}/metrics`)).text();
      assert.equal(metricValue(m, 'kong_siem_records_received_total'), 2);
    } finally {
      await agg.close();
    }
  }
});
