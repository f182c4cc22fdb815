// Route-aware success (issue 18, item 3): the record's `outcome` validated at
// ingest and counted over the status rule; /v1/kong-log with
// SIEM_SUCCESS_STATUSES and `kong-siem replay --success-statuses` map a
// route's statuses alike. (The plugin's `success_statuses` runs through the
// real plugin server in plugin-server.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../aggregator/config';
import { parseSuccessStatuses } from '../../common/success-statuses';
import { kongLog } from '../helpers/kong-log-fixture';
import { getJson, metricValue, postJson, startAggregator } from '../helpers/aggregator';
import { runCli } from '../helpers/cli';

const T0 = Date.parse('2024-06-07T22:10:00Z');

/** 8 failed WordPress logins (200) and one that worked (302) from one IP, and the same on a route with no mapping. */
function wordpressLogs() {
  const logs: Record<string, unknown>[] = [];
  for (let i = 0; i < 8; i++)
    logs.push(
      kongLog({
        startedAt: T0 + i * 3000,
        ip: '203.0.113.80',
        status: 200,
        service: 'blog',
        route: 'wp-login',
        consumer: null,
        method: 'POST',
      }),
    );
  logs.push(
    kongLog({
      startedAt: T0 + 25_000,
      ip: '203.0.113.80',
      status: 302,
      service: 'blog',
      route: 'wp-login',
      consumer: null,
      method: 'POST',
    }),
  );
  for (let i = 0; i < 8; i++)
    logs.push(kongLog({ startedAt: T0 + i * 3000, ip: '203.0.113.81', status: 200, service: 'blog', route: 'home', consumer: null }));
  return logs;
}

const brief = (fs: Array<Record<string, unknown>>) => fs.map((f) => [f.type, f.ip, f.count, f.ratio]);

test('records: outcome is validated (a bad one rejected as invalid, the batch kept) and counted over the status rule', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const records: Record<string, unknown>[] = [];
  // failed logins answered 200, marked failure by the plugin: a brute force
  for (let i = 0; i < 7; i++) records.push({ ts: T0 + i * 1000, ip: '192.0.2.7', status: 200, service: 'login', outcome: 'failure' });
  // 401s the plugin calls successes (an API where 401 is expected): no failure
  for (let i = 0; i < 7; i++) records.push({ ts: T0 + i * 1000, ip: '192.0.2.8', status: 401, service: 'login', outcome: 'success' });
  records.push({ ts: T0, ip: '192.0.2.9', status: 200, service: 'login', outcome: 'maybe' });
  records.push({ ts: T0, ip: '192.0.2.9', status: 200, service: 'login', outcome: 1 });
  const res = await postJson(`${agg.url}/v1/records`, { records });
  assert.deepEqual([res.body.accepted, res.body.rejected], [14, 2]);
  assert.equal(metricValue(await (await fetch(`${agg.url}/metrics`)).text(), 'kong_siem_records_rejected_total', { reason: 'invalid' }), 2);
  const { body } = await getJson(`${agg.url}/v1/findings`);
  assert.deepEqual(brief(body.findings), [['auth_bruteforce', '192.0.2.7', 7, 1]], 'failed logins answered 200 are failed authentications');
  const top = (await getJson(`${agg.url}/v1/top?service=login&by=errors`)).body;
  assert.deepEqual(top.items, [{ ip: '192.0.2.7', count: 7 }], 'outcome decides what an error is');
});

test('/v1/kong-log with SIEM_SUCCESS_STATUSES: the mapped route decides by its list, other routes by the status rule', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_SUCCESS_STATUSES: 'wp-login=302, admin=200|204' });
  t.after(() => agg.close());
  const res = await postJson(`${agg.url}/v1/kong-log`, wordpressLogs());
  assert.equal(res.status, 202);
  assert.equal(res.body.accepted, 17);
  assert.deepEqual((await getJson(`${agg.url}/v1/top?service=blog&by=errors`)).body.items, [{ ip: '203.0.113.80', count: 8 }]);
  assert.deepEqual(brief((await getJson(`${agg.url}/v1/findings`)).body.findings), [['auth_bruteforce', '203.0.113.80', 8, 0.8889]]);

  const plain = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => plain.close());
  await postJson(`${plain.url}/v1/kong-log`, wordpressLogs());
  assert.deepEqual(
    (await getJson(`${plain.url}/v1/top?service=blog&by=errors`)).body.items,
    [],
    'without the mapping the 200s are successes',
  );
  assert.deepEqual((await getJson(`${plain.url}/v1/findings`)).body.findings, []);
});

test('replay --success-statuses ROUTE=302 gives what /v1/kong-log gives; a bad mapping is a usage error', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kong-siem-success-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'access.log');
  writeFileSync(
    file,
    wordpressLogs()
      .map((l) => `${JSON.stringify(l)}\n`)
      .join(''),
  );
  const mapped = await runCli(['replay', '--json', '-q', '--success-statuses', 'wp-login=302', file]);
  assert.equal(mapped.code, 0, mapped.stderr);
  assert.deepEqual(brief(JSON.parse(mapped.stdout).findings), [['auth_bruteforce', '203.0.113.80', 8, 0.8889]]);
  const fromEnv = await runCli(['replay', '--json', '-q', file], { env: { SIEM_SUCCESS_STATUSES: 'wp-login=302' } });
  assert.deepEqual(JSON.parse(fromEnv.stdout).findings, JSON.parse(mapped.stdout).findings);
  const none = await runCli(['replay', '--json', '-q', file]);
  assert.deepEqual(JSON.parse(none.stdout).findings, []);
  const bad = await runCli(['replay', '--json', '-q', '--success-statuses', 'wp-login=3O2', file]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /3O2/);
});

test('SIEM_SUCCESS_STATUSES: entries add up per route; a typo stops the start naming the variable', () => {
  assert.deepEqual(
    [...parseSuccessStatuses('login=302|303, api=200,login=200')].map(([r, s]) => [r, [...s].sort()]),
    [
      ['login', [200, 302, 303]],
      ['api', [200]],
    ],
  );
  assert.equal(loadConfig({ SIEM_SUCCESS_STATUSES: 'wp-login=302' }).successStatuses.get('wp-login')?.has(302), true);
  for (const bad of ['wp-login', '=302', 'wp-login=99', 'wp-login=600', 'wp-login=302|x']) {
    assert.throws(() => loadConfig({ SIEM_SUCCESS_STATUSES: bad }), /SIEM_SUCCESS_STATUSES/, bad);
  }
});
