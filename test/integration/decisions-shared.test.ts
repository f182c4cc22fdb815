// Decisions are part of the state: every aggregator on one Redis serves the
// same set and the same stream positions; an in-memory aggregator keeps them
// across a restart in the file beside SIEM_STATE_FILE.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getJson, startAggregator, type RunningAggregator } from '../helpers/aggregator';
import { startRedis, waitFor } from '../helpers/redis';
import { FOLLOW_MS } from '../../aggregator/decisions/index';
import { RedisDecisionRepo } from '../../aggregator/decisions/redis-repo';
import { STREAMS_PER_KEY, streamOf } from '../../aggregator/decisions/streams';
import { connectRedis, parseRedisState } from '../../aggregator/state/redis/client';
import { ADMIN, KEY_A, KEY_B, addManual, adminHeaders, attack, deleteDecision, pull, pullFrom, values } from '../helpers/decisions';

const env = { SIEM_BOUNCER_KEYS: `${KEY_A},${KEY_B}`, SIEM_ADMIN_TOKEN: ADMIN, SIEM_SWEEP_INTERVAL_MS: '60000' };

/** A real redis-server and two aggregators sharing it, stopped after the test. */
async function twoOnOneRedis(t: TestContext): Promise<[RunningAggregator, RunningAggregator, string]> {
  const redis = await startRedis();
  t.after(() => redis.close());
  const a = await startAggregator({ ...env, SIEM_STATE: redis.url });
  t.after(() => a.close());
  const b = await startAggregator({ ...env, SIEM_STATE: redis.url });
  t.after(() => b.close());
  return [a, b, redis.url];
}

async function healthy(agg: RunningAggregator): Promise<void> {
  await waitFor(`${agg.url}/healthz ok`, async () => (await getJson(`${agg.url}/healthz`)).status === 200);
}

test('two aggregators on one Redis serve one decision set and one stream position per bouncer', async (t) => {
  const [a, b] = await twoOnOneRedis(t);
  await healthy(a);
  await healthy(b);
  await waitFor('decision store reachable', async () => (await pull(a.url, KEY_B, true)).status === 200);

  assert.equal(await attack(a.url, '203.0.113.7'), 202);
  assert.equal(await attack(b.url, '2001:db8:9:9::1'), 202);
  // either aggregator's round sees the shared findings; both running at once make no duplicates
  await Promise.all([a.decisions.reconcileNow(), b.decisions.reconcileNow()]);

  const first = await pull(b.url, KEY_A, true);
  assert.equal(first.status, 200);
  assert.deepEqual(values(first.body.new), ['2001:db8:9:9::/64', '203.0.113.7']);
  // the position follows the bouncer to the other aggregator
  assert.deepEqual((await pull(a.url, KEY_A)).body.new, []);
  const manual = await addManual(a.url, '198.51.100.9', '1h');
  assert.equal(manual.status, 201);
  const next = await pull(b.url, KEY_A);
  assert.deepEqual(values(next.body.new), ['198.51.100.9']);
  assert.equal(await deleteDecision(b.url, manual.body.id), 204);
  const gone = await pull(a.url, KEY_A);
  assert.deepEqual(values(gone.body.deleted), ['198.51.100.9']);
  assert.deepEqual(values((await getJson(`${a.url}/v1/decisions?ip=203.0.113.7`, { 'x-api-key': KEY_B })).body), ['203.0.113.7']);
  const listA = (await getJson(`${a.url}/v1/admin/decisions`, adminHeaders())).body.decisions;
  const listB = (await getJson(`${b.url}/v1/admin/decisions`, adminHeaders())).body.decisions;
  assert.deepEqual(
    listA.map((d: any) => d.id),
    listB.map((d: any) => d.id),
  );
  assert.equal(listA.length, 2);
});

test('an aggregator on the shared Redis follows what the other one writes in the background, before any request to it', async (t) => {
  const [a, b] = await twoOnOneRedis(t);
  const bSet = () => b.decisions.service.cachedVersion();
  // no request goes to b in this test until its set is current: only its follower reads the store
  await waitFor('b reads the set in the background', async () => bSet() !== undefined, 10 * FOLLOW_MS);
  for (const value of ['198.51.100.31', '198.51.100.32']) {
    const before = bSet();
    assert.equal((await addManual(a.url, value, '1h')).status, 201);
    const wrote = a.decisions.service.cachedVersion();
    assert.ok(wrote && before && wrote.version > before.version, 'a wrote a newer version');
    // within a bounded number of follower ticks
    await waitFor(`b reaches version ${wrote.version}`, async () => JSON.stringify(bSet()) === JSON.stringify(wrote), 10 * FOLLOW_MS);
  }
  const listB = (await getJson(`${b.url}/v1/admin/decisions`, adminHeaders())).body.decisions;
  assert.deepEqual(values(listB), ['198.51.100.31', '198.51.100.32']);
});

test('in-memory decisions and stream positions survive a restart (SIEM_STATE_FILE)', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'siem-dec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'state.ndjson');
  const conf = { ...env, SIEM_STATE_FILE: file };

  const first = await startAggregator(conf);
  await attack(first.url, '203.0.113.7');
  await first.decisions.reconcileNow();
  const startup = await pull(first.url, KEY_A, true);
  assert.deepEqual(values(startup.body.new), ['203.0.113.7']);
  const id = startup.body.new[0].id;
  await first.close();
  const saved = JSON.parse(readFileSync(`${file}.decisions.json`, 'utf8'));
  assert.equal(saved.format, 'kong-siem-decisions');

  const second = await startAggregator(conf);
  t.after(() => second.close());
  // the bouncer carries on incrementally: nothing new, and the decision is still served
  assert.deepEqual((await pull(second.url, KEY_A)).body, { new: [], deleted: [] });
  const list = (await getJson(`${second.url}/v1/admin/decisions`, adminHeaders())).body.decisions;
  assert.deepEqual(
    list.map((d: any) => [d.id, d.value, d.evidence[0].count]),
    [[id, '203.0.113.7', 30]],
  );
  // ids continue after the restored sequence
  const manual = await addManual(second.url, '198.51.100.1');
  assert.ok(manual.body.id > id);
  assert.equal(await deleteDecision(second.url, id), 204);
  const next = await pull(second.url, KEY_A);
  assert.deepEqual([values(next.body.new), values(next.body.deleted)], [['198.51.100.1'], ['203.0.113.7']]);
});

test('a restart with an address newly in SIEM_ALLOWLIST takes its ban back: restored from the decisions file (red team 3)', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'siem-dec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = { ...env, SIEM_STATE_FILE: path.join(dir, 'state.ndjson') };
  const first = await startAggregator(conf);
  await attack(first.url, '203.0.113.7');
  await attack(first.url, '2001:db8:5:6::1');
  await attack(first.url, '198.51.100.9');
  await first.decisions.reconcileNow();
  assert.equal((await addManual(first.url, '192.0.2.0/24', '100h')).status, 201);
  assert.deepEqual(values((await pull(first.url, KEY_A, true)).body.new), [
    '192.0.2.0/24',
    '198.51.100.9',
    '2001:db8:5:6::/64',
    '203.0.113.7',
  ]);
  await first.close();

  // the on-call allowlists the gateway, an address in the /64 and one in the manual range, and restarts
  const second = await startAggregator({ ...conf, SIEM_ALLOWLIST: '203.0.113.7,2001:db8:5:6::10,192.0.2.10' });
  t.after(() => second.close());
  await second.decisions.reconcileNow();
  const next = await pull(second.url, KEY_A);
  // before: nothing deleted, the three bans served for 4 h (100 h for the manual one)
  assert.deepEqual([values(next.body.new), values(next.body.deleted)], [[], ['192.0.2.0/24', '2001:db8:5:6::/64', '203.0.113.7']]);
  const list = (await getJson(`${second.url}/v1/admin/decisions`, adminHeaders())).body.decisions;
  assert.deepEqual(values(list), ['198.51.100.9']);
  // its findings still hold: no ban comes back
  await second.decisions.reconcileNow();
  assert.deepEqual((await pull(second.url, KEY_A)).body, { new: [], deleted: [] });
});

test('on Redis, an aggregator started with a wider SIEM_ALLOWLIST takes the shared ban back at its first tick, round taken or not', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const a = await startAggregator({ ...env, SIEM_STATE: redis.url });
  t.after(() => a.close());
  await healthy(a);
  await waitFor('decision store reachable', async () => (await pull(a.url, KEY_A, true)).status === 200);
  await attack(a.url, '203.0.113.7');
  assert.equal(await a.decisions.round(), true);
  assert.deepEqual(values((await pull(a.url, KEY_A)).body.new), ['203.0.113.7']);
  const b = await startAggregator({ ...env, SIEM_STATE: redis.url, SIEM_ALLOWLIST: '203.0.113.0/24' });
  t.after(() => b.close());
  await healthy(b);
  assert.equal(await b.decisions.round(), false, 'a holds this round');
  assert.deepEqual(values((await pull(a.url, KEY_A)).body.deleted), ['203.0.113.7']);
});

test('on Redis, hosts sharing one key each get every change, through any aggregator (red team 3)', async (t) => {
  const [a, b] = await twoOnOneRedis(t);
  await healthy(a);
  await healthy(b);
  await waitFor('decision store reachable', async () => (await pullFrom(a.url, KEY_A, '127.0.0.2', true)).status === 200);
  assert.deepEqual((await pullFrom(b.url, KEY_A, '127.0.0.3', true)).body, { new: [], deleted: [] });
  await attack(a.url, '203.0.113.9');
  await a.decisions.reconcileNow();
  // before: the first host's pull moved the key's one position and the second never got the ban
  assert.deepEqual(values((await pullFrom(a.url, KEY_A, '127.0.0.2')).body.new), ['203.0.113.9']);
  assert.deepEqual(values((await pullFrom(b.url, KEY_A, '127.0.0.3')).body.new), ['203.0.113.9']);
  assert.deepEqual((await pullFrom(b.url, KEY_A, '127.0.0.2')).body, { new: [], deleted: [] }, 'the position follows the host');
});

test('on Redis, a key pulling from more addresses than the cap keeps at most the cap between rounds (review 3)', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const c = connectRedis(parseRedisState(redis.url));
  if (c.status !== 'ready') await new Promise((ok) => c.once('ready', ok));
  const repo = new RedisDecisionRepo(c);
  t.after(() => repo.close());
  await repo.pulled(streamOf('bbbb0002', '127.0.0.9'), 'bbbb0002', 1, 1000);
  for (let i = 0; i < STREAMS_PER_KEY + 44; i++)
    await repo.pulled(streamOf('aaaa0001', `127.1.${i >> 7}.${i & 127}`), 'aaaa0001', i + 2, 1000);
  const held = Object.keys(await c.hgetall('ks:{d}:pos'));
  // before: 300 fields of aaaa0001 until the next reconcile round pruned them
  assert.equal(held.filter((s) => s.startsWith('aaaa0001@')).length, STREAMS_PER_KEY);
  assert.ok(held.includes(streamOf('bbbb0002', '127.0.0.9')), 'another key keeps its streams');
});

test('one reconcile round per period across the aggregators of one Redis: the first to ask takes it, the others skip theirs', async (t) => {
  const [a, b, url] = await twoOnOneRedis(t);
  await healthy(a);
  await healthy(b);
  await waitFor('decision store reachable', async () => (await pull(a.url, KEY_B, true)).status === 200);
  assert.equal(await attack(b.url, '203.0.113.8'), 202);
  // the round lasts 0.8 x SIEM_SWEEP_INTERVAL_MS (48 s here): a's timer round, then b's in it
  assert.equal(await a.decisions.round(), true);
  assert.equal(await b.decisions.round(), false);
  assert.equal(await a.decisions.round(), false, 'not even its taker twice');
  assert.deepEqual(values((await pull(b.url, KEY_A, true)).body.new), ['203.0.113.8'], 'the round taken found the shared findings');
  // an explicit reconcile is not a timer round
  assert.equal(typeof (await b.decisions.reconcileNow()), 'number');

  // the store's claim itself: one taker per period, free again after it
  const ready = async () => {
    const c = connectRedis(parseRedisState(url));
    if (c.status !== 'ready') await new Promise((ok) => c.once('ready', ok));
    return new RedisDecisionRepo(c);
  };
  const [first, second] = await Promise.all([ready(), ready()]);
  t.after(() => Promise.all([first.close(), second.close()]));
  // A period long enough that no stall of a loaded machine between the two claims outlasts it (150 ms did not
  // leave room for one); "free again after it" is timed against when the taking claim was sent.
  const PERIOD = 2000;
  let claimedAt = 0;
  await waitFor(
    'round over',
    async () => {
      const at = Date.now();
      const took = await first.claimRound(PERIOD);
      if (took) claimedAt = at;
      return took;
    },
    60_000,
  );
  assert.equal(await second.claimRound(PERIOD), false);
  await waitFor('the period over', () => second.claimRound(PERIOD), 10_000);
  assert.ok(Date.now() - claimedAt >= PERIOD, `free again ${Date.now() - claimedAt} ms after the claim, before its ${PERIOD} ms`);
});

test("in memory every timer round is the aggregator's own", async (t) => {
  const agg = await startAggregator(env);
  t.after(() => agg.close());
  assert.equal(await agg.decisions.round(), true);
  assert.equal(await agg.decisions.round(), true);
});
