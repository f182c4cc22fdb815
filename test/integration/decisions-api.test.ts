// The decision feed over HTTP on loopback: CrowdSec's bouncer endpoints
// (stream per key, live, 403), the operator's (add, delete, listing; 401,
// 422) and the metrics, fed by real ingest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getJson, metricValue, postJson, startAggregator } from '../helpers/aggregator';
import { ADMIN, KEY_A, KEY_B, addManual, adminHeaders, attack, benign, deleteDecision, pull, pullFrom, values } from '../helpers/decisions';
import { bouncerId } from '../../aggregator/decisions/config';
import { parseDuration } from '../../aggregator/decisions/duration';

const env = {
  SIEM_BOUNCER_KEYS: `${KEY_A},${KEY_B}`,
  SIEM_ADMIN_TOKEN: ADMIN,
  SIEM_ALLOWLIST: '10.0.0.0/8,2001:db8:aa::/48',
  SIEM_SWEEP_INTERVAL_MS: '60000',
};

test('bouncer API: keys, startup and incremental pulls per key, live lookups, CrowdSec shapes', async (t) => {
  const agg = await startAggregator(env);
  t.after(() => agg.close());

  // no key, wrong key: 403 as CrowdSec answers
  const noKeys: Record<string, string>[] = [{}, { 'x-api-key': 'nope' }];
  for (const h of noKeys) {
    const r = await getJson(`${agg.url}/v1/decisions/stream?startup=true`, h);
    assert.equal(r.status, 403);
    assert.deepEqual(r.body, { message: 'access forbidden' });
    assert.equal((await getJson(`${agg.url}/v1/decisions?ip=1.2.3.4`, h)).status, 403);
  }

  assert.equal(await attack(agg.url, '203.0.113.7'), 202);
  assert.equal(await attack(agg.url, '2001:db8:1:2::99'), 202);
  assert.equal(await attack(agg.url, '10.1.2.3'), 202); // allowlisted
  assert.equal(await benign(agg.url, '198.51.100.20'), 202);
  await agg.decisions.reconcileNow();

  const a1 = await pull(agg.url, KEY_A, true);
  assert.equal(a1.status, 200);
  assert.deepEqual(values(a1.body.new), ['2001:db8:1:2::/64', '203.0.113.7']);
  assert.deepEqual(a1.body.deleted, []);
  const d = a1.body.new.find((x: any) => x.value === '203.0.113.7');
  assert.deepEqual(Object.keys(d).sort(), ['duration', 'id', 'origin', 'scenario', 'scope', 'type', 'value']);
  assert.equal(d.origin, 'kong-siem');
  assert.equal(d.type, 'ban');
  assert.equal(d.scope, 'Ip');
  assert.equal(d.scenario, 'kong-siem/error_ip');
  assert.match(d.duration, /^3h59m\d+(\.\d+)?s$|^4h0m0s$/);
  assert.ok(Math.abs((parseDuration(d.duration) as number) - 4 * 3600_000) < 5000);
  assert.equal(a1.body.new.find((x: any) => x.value.includes(':')).scope, 'Range');

  // incremental: nothing new; then a new attacker appears for A only once
  const a2 = await pull(agg.url, KEY_A);
  assert.deepEqual([a2.body.new, a2.body.deleted], [[], []]);
  await attack(agg.url, '192.0.2.44');
  await agg.decisions.reconcileNow();
  // live lookups never move a stream position
  const live = await getJson(`${agg.url}/v1/decisions?ip=192.0.2.44`, { 'x-api-key': KEY_A });
  assert.equal(live.status, 200);
  assert.deepEqual(values(live.body), ['192.0.2.44']);
  const inRange = await getJson(`${agg.url}/v1/decisions?ip=2001:db8:1:2:abcd::1`, { 'x-api-key': KEY_A });
  assert.deepEqual(values(inRange.body), ['2001:db8:1:2::/64']);
  const none = await getJson(`${agg.url}/v1/decisions?ip=198.51.100.20`, { 'x-api-key': KEY_A });
  assert.equal(none.status, 200);
  assert.equal(none.body, null);
  assert.equal((await getJson(`${agg.url}/v1/decisions?ip=nonsense`, { 'x-api-key': KEY_A })).status, 400);

  const a3 = await pull(agg.url, KEY_A);
  assert.deepEqual(values(a3.body.new), ['192.0.2.44']);
  const a4 = await pull(agg.url, KEY_A);
  assert.deepEqual(a4.body.new, []);

  // key B has its own position: its first incremental pull gets everything
  const b1 = await pull(agg.url, KEY_B);
  assert.deepEqual(values(b1.body.new), ['192.0.2.44', '2001:db8:1:2::/64', '203.0.113.7']);
  // scopes filter
  const onlyRange = await getJson(`${agg.url}/v1/decisions/stream?startup=true&scopes=range`, { 'x-api-key': KEY_B });
  assert.deepEqual(values(onlyRange.body.new), ['2001:db8:1:2::/64']);

  // deleting reaches each bouncer's next pull once
  assert.equal(await deleteDecision(agg.url, d.id), 204);
  const a5 = await pull(agg.url, KEY_A);
  assert.deepEqual(values(a5.body.deleted), ['203.0.113.7']);
  assert.equal(a5.body.deleted[0].id, d.id);
  assert.deepEqual((await pull(agg.url, KEY_A)).body.deleted, []);
  // and stays deleted while the same finding run goes on
  await attack(agg.url, '203.0.113.7');
  await agg.decisions.reconcileNow();
  assert.deepEqual((await pull(agg.url, KEY_A)).body.new, []);

  const m = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(m, 'kong_siem_decisions', { origin: 'kong-siem', scenario: 'kong-siem/error_ip' }), 2);
  assert.ok((metricValue(m, 'kong_siem_bouncer_pulls_total') ?? 0) >= 8);
  const age = metricValue(m, 'kong_siem_bouncer_last_pull_seconds', { bouncer: bouncerId(KEY_A) });
  assert.ok(age !== undefined && age < 5, `last pull age ${age}`);
  assert.ok(!m.includes(KEY_A), 'the key itself never appears');
});

test('a live lookup of an IPv6 address carrying an IPv4 client (SIIT, NAT64) finds the ban its records made, which is on the IPv4 (red team 5)', async (t) => {
  const agg = await startAggregator(env);
  t.after(() => agg.close());
  // records key these as 192.0.2.7 and 192.0.2.8 (ip-key.ts), so that is what is banned
  assert.equal(await attack(agg.url, '64:ff9b::c000:207'), 202);
  assert.equal(await attack(agg.url, '::ffff:0:c000:208'), 202);
  await agg.decisions.reconcileNow();
  assert.deepEqual(values((await pull(agg.url, KEY_A, true)).body.new), ['192.0.2.7', '192.0.2.8']);
  const live = async (ip: string) =>
    values((await getJson(`${agg.url}/v1/decisions?ip=${encodeURIComponent(ip)}`, { 'x-api-key': KEY_A })).body);
  // a live-mode bouncer asks for the client as Kong logged it: before, null
  assert.deepEqual(await live('64:ff9b::c000:207'), ['192.0.2.7']);
  assert.deepEqual(await live('64:ff9b::192.0.2.7'), ['192.0.2.7']);
  assert.deepEqual(await live('::ffff:0:c000:208'), ['192.0.2.8']);
  assert.deepEqual(await live('192.0.2.7'), ['192.0.2.7']);
  // an IPv6 range ban on the translated space is found too, each decision once
  const range = await addManual(agg.url, '64:ff9b::/96');
  assert.equal(range.status, 201);
  assert.deepEqual(await live('64:ff9b::c000:207'), ['192.0.2.7', '64:ff9b::/96']);
  assert.deepEqual(await live('64:ff9b::c000:209'), ['64:ff9b::/96']);
  assert.deepEqual(await live('2001:db8::c000:207'), []);

  // allowlisted as Kong logs them (an address, a range longer than the /96): never banned as their IPv4
  const b = await startAggregator({ ...env, SIEM_ALLOWLIST: '64:ff9b::c000:207,::ffff:0:c000:200/120' });
  t.after(() => b.close());
  for (const ip of ['64:ff9b::c000:207', '::ffff:0:c000:208', '64:ff9b::c000:309']) assert.equal(await attack(b.url, ip), 202);
  await b.decisions.reconcileNow();
  assert.deepEqual(values((await pull(b.url, KEY_A, true)).body.new), ['192.0.3.9']);
  assert.equal((await addManual(b.url, '192.0.2.7')).status, 422);
});

test('bouncers sharing one key from different hosts each get every change, as from CrowdSec (red team 3)', async (t) => {
  const agg = await startAggregator(env);
  t.after(() => agg.close());
  // three Kong nodes running the Lua bouncer with one key, a fourth host with the other key
  const nodes = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  for (const h of nodes) assert.deepEqual((await pullFrom(agg.url, KEY_A, h, true)).body, { new: [], deleted: [] });
  assert.equal(await attack(agg.url, '203.0.113.7'), 202);
  await agg.decisions.reconcileNow();
  // before: the first node's pull moved the key's one position, and the others never got the ban
  for (const h of nodes) assert.deepEqual(values((await pullFrom(agg.url, KEY_A, h)).body.new), ['203.0.113.7'], h);
  for (const h of nodes) assert.deepEqual((await pullFrom(agg.url, KEY_A, h)).body, { new: [], deleted: [] }, h);
  const id = (await pullFrom(agg.url, KEY_B, '127.0.0.5', true)).body.new[0].id;
  assert.equal(await deleteDecision(agg.url, id), 204);
  for (const h of nodes) assert.deepEqual(values((await pullFrom(agg.url, KEY_A, h)).body.deleted), ['203.0.113.7'], h);
  assert.deepEqual(values((await pullFrom(agg.url, KEY_B, '127.0.0.5')).body.deleted), ['203.0.113.7']);
  // still one series per key
  const m = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal([...m.matchAll(/^kong_siem_bouncer_last_pull_seconds\{/gm)].length, 2);
});

test('operator API: bearer token, 201/204/401/404/422, replaces, listing with evidence', async (t) => {
  const agg = await startAggregator({ ...env, SIEM_READ_TOKEN: 'reader-token' });
  t.after(() => agg.close());

  assert.equal((await addManual(agg.url, '198.51.100.7', '1h', 'wrong')).status, 401);
  assert.equal((await postJson(`${agg.url}/v1/decisions`, { value: '198.51.100.7' })).status, 401);
  const allowed = await addManual(agg.url, '10.20.30.40');
  assert.equal(allowed.status, 422);
  assert.match(allowed.body.error, /allowlisted/);
  assert.equal((await addManual(agg.url, '10.0.0.0/7')).status, 422, 'a range holding allowlisted addresses');
  assert.equal((await addManual(agg.url, 'not-an-ip')).status, 400);
  // red team 3: zero-padded octets were octal (010.0.0.7 banned 8.0.0.7, 201), short forms other hosts
  for (const v of ['010.0.0.7', '198.51.100', 'fe80::1%eth0']) {
    const r = await addManual(agg.url, v);
    assert.equal(r.status, 400, v);
    assert.match(r.body.error, /four decimal octets without leading zeros/);
  }
  // every address at once: refused as such (before, 0.0.0.0/0 got 422 only because the allowlist overlaps it)
  for (const v of ['0.0.0.0/0', '::/0', '2001:db8::1/0']) {
    const r = await addManual(agg.url, v);
    assert.equal(r.status, 400, v);
    assert.match(r.body.error, /would ban every address/, v);
  }
  assert.equal((await addManual(agg.url, '198.51.100.7', 'forever')).status, 400);
  // longer than any bouncer can read (Go's time.Duration): refused, not listed as a ban enforced nowhere
  assert.equal((await addManual(agg.url, '198.51.100.7', '3000000h')).status, 400);

  const made = await addManual(agg.url, '198.51.100.7', '90m');
  assert.equal(made.status, 201);
  assert.equal(made.body.origin, 'manual');
  assert.equal(made.body.scenario, 'kong-siem/manual');
  assert.equal(made.body.scope, 'Ip');
  assert.equal(made.body.duration, '1h30m0s');
  const range = await addManual(agg.url, '2001:db8:5:6::1/64');
  assert.equal(range.body.value, '2001:db8:5:6::/64');
  assert.equal(range.body.scope, 'Range');

  await attack(agg.url, '203.0.113.50');
  await agg.decisions.reconcileNow();

  // listing: read token or admin token, with the finding's figures
  assert.equal((await getJson(`${agg.url}/v1/admin/decisions`)).status, 401);
  for (const h of [adminHeaders(), { authorization: 'Bearer reader-token' }]) {
    const list = await getJson(`${agg.url}/v1/admin/decisions`, h);
    assert.equal(list.status, 200);
    assert.deepEqual(values(list.body.decisions), ['198.51.100.7', '2001:db8:5:6::/64', '203.0.113.50']);
    const auto = list.body.decisions.find((x: any) => x.value === '203.0.113.50');
    assert.equal(auto.evidence[0].type, 'error_ip');
    assert.equal(auto.evidence[0].count, 30);
    assert.equal(auto.evidence[0].ratio, 1);
    assert.equal(list.body.decisions.find((x: any) => x.value === '198.51.100.7').reason, 'test');
  }

  // a manual ban on a value with an automatic decision replaces it
  const replaced = await addManual(agg.url, '203.0.113.50', '2h');
  assert.equal(replaced.status, 201);
  const list = (await getJson(`${agg.url}/v1/admin/decisions`, adminHeaders())).body.decisions;
  assert.deepEqual(
    list.filter((x: any) => x.value === '203.0.113.50').map((x: any) => x.origin),
    ['manual'],
  );

  assert.equal(await deleteDecision(agg.url, made.body.id, 'wrong'), 401);
  assert.equal(await deleteDecision(agg.url, made.body.id), 204);
  assert.equal(await deleteDecision(agg.url, made.body.id), 404);
  const after = await getJson(`${agg.url}/v1/decisions?ip=198.51.100.7`, { 'x-api-key': KEY_A });
  assert.equal(after.body, null);
});

test('without SIEM_ADMIN_TOKEN the operator endpoints are closed; without keys the bouncer ones', async (t) => {
  const agg = await startAggregator({ SIEM_SWEEP_INTERVAL_MS: '60000' });
  t.after(() => agg.close());
  assert.equal((await postJson(`${agg.url}/v1/decisions`, { value: '198.51.100.7' }, adminHeaders())).status, 401);
  assert.equal((await pull(agg.url, KEY_A, true)).status, 403);
});

test('safety: forged records without the ingest token ban nobody; decisions stay bounded whatever the traffic', async (t) => {
  const agg = await startAggregator({ ...env, SIEM_INGEST_TOKEN: 'ingest-secret', SIEM_MAX_DECISIONS: '50' });
  t.after(() => agg.close());
  // an attacker forging failures "from" a benign address, without the token
  assert.equal(await attack(agg.url, '198.51.100.20', 100), 401);
  assert.equal(await attack(agg.url, '198.51.100.20', 100, { authorization: 'Bearer guessed' }), 401);
  await agg.decisions.reconcileNow();
  assert.deepEqual((await pull(agg.url, KEY_A, true)).body.new, []);

  // 300 attackers at once, the last 20 the strongest: 50 decisions, those 20 among them
  const now = Date.now();
  const records = [];
  for (let i = 0; i < 300; i++) {
    const n = i >= 280 ? 60 : 25;
    for (let j = 0; j < n; j++) records.push({ ts: now - j, ip: `198.18.${i >> 8}.${i & 255}`, status: 500, service: 'orders' });
  }
  assert.equal((await postJson(`${agg.url}/v1/records`, { records }, { authorization: 'Bearer ingest-secret' })).status, 202);
  await agg.decisions.reconcileNow();
  const got = values((await pull(agg.url, KEY_A, true)).body.new);
  assert.equal(got.length, 50);
  for (let i = 280; i < 300; i++) assert.ok(got.includes(`198.18.${i >> 8}.${i & 255}`), `strong attacker ${i} kept`);
  // a second round changes nothing (no churn at the bound)
  await agg.decisions.reconcileNow();
  const again = await pull(agg.url, KEY_A);
  assert.deepEqual([again.body.new, again.body.deleted], [[], []]);
});
