// A sweep reads the shared clock, then the keys, then writes; a batch from
// another aggregator can land in between, with records past the sweep's
// clock. Found as flakes of redis-state's two-aggregator test under load:
// - the top re-scoring scored such a record away: an IP with one failure went
//   missing from `/v1/top?by=errors` (listed 4, `other` 1);
// - the rule step at the sweep's older clock ended runs the batch had just
//   begun: `since` came out seconds late.
// A proxy holds the sweeping aggregator's traffic at the right command while
// the other aggregator writes, so each race is played every run.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { DEFAULT_SETTINGS } from '../../common/settings';
import { startRedis, waitFor } from '../helpers/redis';
import { redisStateForTest } from '../helpers/redis-state';

const T0 = 1_717_000_000_000;

/** A loopback proxy to Redis that holds the first chunk `hold` matches (and every later one behind it) until released. */
async function startHoldingProxy(targetPort: number, hold: (text: string) => boolean) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let heldOnce = false;
  let onHeld!: () => void;
  const held = new Promise<void>((resolve) => {
    onHeld = resolve;
  });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    // chunks are forwarded in order: once one is held, the ones after it wait behind it
    let chain = Promise.resolve();
    client.on('data', (d) => {
      if (!heldOnce && hold(d.toString('latin1'))) {
        heldOnce = true;
        onHeld();
        chain = chain.then(() => released);
      }
      chain = chain.then(() => {
        upstream.write(d);
      });
    });
    upstream.on('data', (d) => client.write(d));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    held,
    release,
    close: async () => {
      release();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Redis, and two aggregators on it: A direct, B (the sweeper) through a proxy holding what `hold` matches. */
async function twoOnOneRedis(t: TestContext, hold: (text: string) => boolean, settings = DEFAULT_SETTINGS) {
  const redis = await startRedis();
  t.after(() => redis.close());
  const proxy = await startHoldingProxy(redis.port, hold);
  t.after(() => proxy.close());
  const a = redisStateForTest(redis.url, { defaults: settings });
  t.after(() => a.close?.());
  const b = redisStateForTest(`redis://127.0.0.1:${proxy.port}/0`, { defaults: settings });
  t.after(() => b.close?.());
  await waitFor('redis ready', async () => a.health?.().ok === true && b.health?.().ok === true);
  return { a, b, proxy };
}

/** error_ip alone, on its long window: 20 failures at a ratio of at least 0.5 */
const ERROR_IP_ONLY = { ...DEFAULT_SETTINGS, error_min: 20, error_ratio: 0.5, error_burst_min: 1_000_000 };

/** n records of one IP key at ts */
const recs = (ip: string, ts: number, status: number, n: number) =>
  Array.from({ length: n }, () => ({ ts, ipKey: ip, status, service: 'orders' }));

test('Redis: a batch landing while another aggregator re-scores the top sets is still listed by /v1/top', async (t) => {
  // held: a script call on the top set that is neither a batch's write (its ledger key) nor the expiry (the last-seen index)
  const { a, b, proxy } = await twoOnOneRedis(
    t,
    (text) => /\r\n(evalsha|eval)\r\n/i.test(text) && /:top:r\r\n/.test(text) && !/:(batches|seen)\r\n/.test(text),
  );

  // 10.0.0.2 succeeds at T0: in the requests top set, so the sweep re-scores it
  await a.apply([
    { ts: T0, ipKey: '10.0.0.1', status: 500, service: 'orders' },
    { ts: T0, ipKey: '10.0.0.2', status: 200, service: 'orders' },
  ]);
  // B's sweep reads the clock (T0) and the top sets, then its re-scoring is held
  const sweeping = b.sweep();
  await proxy.held;
  // meanwhile A writes 10.0.0.2's first failure, 30 s later
  await a.apply([{ ts: T0 + 30_000, ipKey: '10.0.0.2', status: 500, service: 'orders' }]);
  proxy.release();
  await sweeping;

  const top = await a.top('orders', 'errors');
  assert.deepEqual(
    top.items.map((x) => [x.ip, x.count]),
    [
      ['10.0.0.1', 1],
      ['10.0.0.2', 1],
    ],
  );
  assert.equal(top.other, 0);
});

test("Redis: a sweep at a clock older than another aggregator's batch leaves the runs that batch began (since stays)", async (t) => {
  // held: the sweep's reads of the candidate sets, sent after it read the clock
  const { a, b, proxy } = await twoOnOneRedis(t, (text) => /\r\nsmembers\r\n/i.test(text) && /:ic:/.test(text), ERROR_IP_ONLY);
  const ip = '10.0.0.7';
  // at T0: 20 failures, 30 successes: a candidate (20 failures) below the ratio (0.4)
  await a.apply([...recs(ip, T0, 500, 20), ...recs(ip, T0, 200, 30)]);
  const sweeping = b.sweep();
  await proxy.held;
  // meanwhile, 30 s later: 15 failures more, 35 of 65 = 0.54: the run begins here
  await a.apply(recs(ip, T0 + 30_000, 500, 15));
  proxy.release();
  await sweeping;
  // one failure more, 10 s on: the run goes on from T0 + 30 s
  await a.apply(recs(ip, T0 + 40_000, 500, 1));

  const f = (await a.findings()).filter((x) => x.type === 'error_ip');
  assert.deepEqual(
    f.map((x) => [x.ip, x.count, x.since]),
    [[ip, 36, T0 + 30_000]],
  );
});

test("Redis: a batch of late records landing between a sweep's read and its write keeps the run it began", async (t) => {
  // held: the sweep's rule-state write (a script call naming a candidate set)
  const { a, b, proxy } = await twoOnOneRedis(t, (text) => /\r\n(evalsha|eval)\r\n/i.test(text) && /:ic:/.test(text), ERROR_IP_ONLY);
  const ip = '10.0.0.8';
  // a candidate below the ratio (20 failures, 31 requests), last seen at T0 + 60 s
  await a.apply([...recs(ip, T0 + 5_000, 500, 20), ...recs(ip, T0 + 5_000, 200, 30)]);
  await a.apply(recs(ip, T0 + 60_000, 200, 1));
  // the clock at T0 + 70 s: the failures at T0 + 5 s have left the 60 s window
  await a.apply(recs('10.0.0.99', T0 + 70_000, 200, 1));
  // B's sweep finds the IP no candidate any more; its write is held
  const sweeping = b.sweep();
  await proxy.held;
  // meanwhile 25 late failures at T0 + 50 s (the last-seen score stays T0 + 60 s): the run begins at T0 + 50 s
  await a.apply(recs(ip, T0 + 50_000, 500, 25));
  proxy.release();
  await sweeping;
  await a.apply(recs(ip, T0 + 71_000, 500, 1));

  const f = (await a.findings()).filter((x) => x.type === 'error_ip');
  assert.deepEqual(
    f.map((x) => [x.ip, x.count, x.since]),
    [[ip, 26, T0 + 50_000]],
  );
});
