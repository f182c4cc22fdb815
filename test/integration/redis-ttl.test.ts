// An IP key's history hash on Redis: its TTL is renewed now and then, not at
// every write: each aggregator renews a hash it has not itself renewed within
// an eighth of the TTL (its own record, renewals.ts: nothing is read from
// Redis to decide), and the sweep deletes the hash together with the key's
// index entry when the key expires, rather than leaving it to its TTL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClock } from '../../aggregator/clock';
import { DEFAULT_SETTINGS } from '../../common/settings';
import { redisStateForTest, redisStateOnOwnServer } from '../helpers/redis-state';
import { waitFor } from '../helpers/redis';

const T0 = 1_717_000_000_000;

test('Redis history hash: TTL renewed by each aggregator once per eighth of it, the hash deleted by the sweep when its key expires', async (t) => {
  const o = () => ({ clock: createClock('event', undefined, Number.POSITIVE_INFINITY), maxKeys: 1000, sweepIntervalMs: 3_600_000 });
  const { raw: r, state: s, url } = await redisStateOnOwnServer(t, o());
  const rec = (ts: number, ip: string) => ({ ts, ipKey: ip, status: 200, service: 'orders' });

  await s.apply([rec(T0, '10.0.0.1'), rec(T0, '10.0.0.2')]);
  const [key] = await r.keys('ks:h:*:10.0.0.1');
  assert.ok(key, 'history hash of 10.0.0.1 written');
  const ttl1 = await r.pttl(key);
  assert.ok(ttl1 > 0, `a new hash has a TTL (${ttl1} ms)`);
  assert.equal(await r.hget(key, 'e'), null, 'no renewal stamp in the hash');

  // written again at once: counted, not renewed
  await new Promise((res) => setTimeout(res, 20));
  await s.apply([rec(T0 + 1000, '10.0.0.1')]);
  const ttl2 = await r.pttl(key);
  assert.ok(ttl2 > 0 && ttl2 < ttl1, `TTL left running (${ttl2} < ${ttl1} ms)`);

  // its TTL run down meanwhile: this aggregator renewed it a moment ago, so it leaves it;
  // another aggregator, which never renewed it, renews it at its first write
  await r.pexpire(key, 5_000);
  await s.apply([rec(T0 + 2000, '10.0.0.1')]);
  assert.ok((await r.pttl(key)) <= 5_000, 'not renewed again by the aggregator that renewed it');
  const other = redisStateForTest(url, o());
  t.after(() => other.close?.());
  await waitFor('second aggregator ready', async () => other.health?.().ok === true);
  await other.apply([rec(T0 + 3000, '10.0.0.1')]);
  assert.ok((await r.pttl(key)) > 5_000, 'TTL renewed by the other aggregator');
  let requests = 0;
  for (const [f, v] of Object.entries(await r.hgetall(key))) if (f.startsWith('r')) requests += Number(v);
  assert.equal(requests, 4, 'every record counted once');

  // 10.0.0.2 gets no record for more than the longest window: the sweep drops its hash with its index entry
  const [key2] = await r.keys('ks:h:*:10.0.0.2');
  assert.ok(key2 && (await r.exists(key2)) === 1);
  const later = T0 + 2 * 24 * 3_600_000;
  await s.apply([rec(later, '10.0.0.1')]);
  await s.sweep();
  assert.equal(await r.exists(key2), 0, 'expired key: history hash deleted by the sweep');
  assert.equal(await r.exists(key), 1, 'the live key kept');
});

test("Redis rule state: a run going on renews its key's TTL at every batch, so an attack outlasting the TTL keeps its since", async (t) => {
  const { raw: r, state: s } = await redisStateOnOwnServer(t, {
    defaults: { ...DEFAULT_SETTINGS, error_min: 20, error_ratio: 0.5, error_burst_min: 1_000_000 },
    maxKeys: 1000,
    sweepIntervalMs: 3_600_000,
  });
  const fail = (ts: number, n: number) => Array.from({ length: n }, () => ({ ts, ipKey: '10.0.0.9', status: 500, service: 'orders' }));

  // the run of error_ip begins at T0: its rule state is written with a TTL
  await s.apply(fail(T0, 20));
  const [key] = await r.keys('ks:m:*:10.0.0.9');
  assert.ok(key, 'rule-state key of 10.0.0.9 written');
  assert.equal(await r.hget(key, 'error_ip'), String(T0));
  const ttl = await r.pttl(key);
  assert.ok(ttl > 60_000, `a TTL (${ttl} ms)`);
  // as if most of the TTL had passed with the attack going on: the next batch renews it
  await r.pexpire(key, 5_000);
  await s.apply(fail(T0 + 1000, 1));
  assert.equal(await r.hget(key, 'error_ip'), String(T0), 'the run goes on from T0');
  assert.ok((await r.pttl(key)) > 5_000, 'TTL renewed by a batch that changed no rule state');
  const f = (await s.findings()).filter((x) => x.type === 'error_ip');
  assert.deepEqual(
    f.map((x) => [x.ip, x.count, x.since]),
    [['10.0.0.9', 21, T0]],
  );
});
