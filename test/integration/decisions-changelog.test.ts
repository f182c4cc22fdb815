// The Redis change log (ks:{d}:log): aggregators on one Redis bring their
// cached sets forward by the ids changed since, or read the whole set when
// the log was trimmed past them or the Redis lost its data. A bouncer pulled
// from them alternately must hold exactly the active set all along.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startRedis } from '../helpers/redis';
import { connectRedis, parseRedisState } from '../../aggregator/state/redis/client';
import { RedisDecisionRepo } from '../../aggregator/decisions/redis-repo';
import { DecisionService } from '../../aggregator/decisions/service';
import { LOG_KEY, LOG_T0, alternatingPulls, countReads, logConfig } from '../helpers/decision-log';

test('two aggregators on one Redis serving a bouncer alternately: right new/deleted, trimmed log resyncs whole, data loss starts over', async (t) => {
  const redis = await startRedis();
  const clients: ReturnType<typeof connectRedis>[] = [];
  // the clients go before the server (hooks run in the order they were added)
  t.after(async () => {
    for (const c of clients) c.disconnect();
    await redis.close();
  });
  const client = async () => {
    const c = connectRedis(parseRedisState(redis.url));
    clients.push(c);
    if (c.status !== 'ready') await once(c, 'ready');
    return c;
  };
  const repo = async (logKeep?: number) => {
    return new RedisDecisionRepo(await client(), logKeep);
  };
  const clock = { now: LOG_T0 };
  const repos = [await repo(8), await repo(8)];
  const reads = repos.map(countReads);
  const services = repos.map((r) => new DecisionService(r, logConfig(12), () => clock.now));
  // the truth, read without any cache
  const plain = await repo();
  const stats = await alternatingPulls(services, clock, () => plain.active(), { rounds: 120, seed: 15 });
  assert.ok(stats.added > 40 && stats.deleted > 20, JSON.stringify(stats));
  for (const n of reads) assert.ok(n.delta > 50 && n.full > 3, JSON.stringify(reads));
  const admin = await client();
  assert.ok(Number(await admin.get('ks:{d}:logfloor')) > 0, 'the log was trimmed');
  assert.ok((await admin.zcard('ks:{d}:log')) <= 8);

  // the Redis loses its data and its version passes the cached ones again (here at once):
  // no cached set takes a delta of the new store (the epoch differs)
  const [a, b] = services as [DecisionService, DecisionService];
  await a.list();
  await b.list();
  await admin.flushall();
  await admin.set('ks:{d}:ver', 1_000_000);
  const fullBefore = reads[1]?.full ?? 0;
  const d = await a.add('198.51.100.77', 3_600_000, 'after the loss');
  assert.deepEqual(
    (await b.list()).map((x) => [x.id, x.value]),
    [[d.id, '198.51.100.77']],
  );
  assert.equal(reads[1]?.full, fullBefore + 1);
  const pulled = JSON.parse((await b.stream(b.bouncers[0] as string, true, undefined)).toString());
  assert.deepEqual(
    pulled.new.map((x: { value: string }) => x.value),
    ['198.51.100.77'],
  );
  assert.equal(b.bouncers[0], services[0]?.bouncers[0]);
  assert.ok(LOG_KEY.length >= 16);
});
