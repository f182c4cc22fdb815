// The sweep re-scores the top sorted sets from a clock it read before; a
// batch from another aggregator can land in between. The scores must stay an
// upper bound of every key's count in any later window (queries stop reading
// on them), so a record newer than the sweeper's clock must not be scored
// away. Found as a CI flake: an IP with one failure went missing from
// `/v1/top?by=errors` on a second aggregator (listed 4, `other` 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createRedisState } from '../../aggregator/state';
import { createClock } from '../../aggregator/clock';
import { DEFAULT_SETTINGS } from '../../common/settings';
import type { SiemState } from '../../aggregator/state/state';
import { startRedis, waitFor } from '../helpers/redis';

const T0 = 1_717_000_000_000;

/** A loopback proxy to Redis that holds the first top re-scoring script call until released. */
async function startHoldingProxy(targetPort: number) {
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
      const text = d.toString('latin1');
      // a script call on the top set that is neither a batch's write (its ledger key) nor the expiry (the last-seen index)
      const refresh = !heldOnce && /\r\n(evalsha|eval)\r\n/i.test(text) && /:top:r\r\n/.test(text) && !/:(batches|seen)\r\n/.test(text);
      if (refresh) {
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

function state(url: string): SiemState {
  return createRedisState(url, {
    clock: createClock('event'),
    defaults: DEFAULT_SETTINGS,
    maxKeys: 10_000,
    maxServices: 10,
    maxFindings: 1000,
    credentialMaxIps: 100,
    sweepIntervalMs: 60_000,
    onEvict: () => {},
  });
}

test('Redis: a batch landing while another aggregator re-scores the top sets is still listed by /v1/top', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const proxy = await startHoldingProxy(redis.port);
  t.after(() => proxy.close());
  const a = state(redis.url);
  t.after(() => a.close?.());
  const b = state(`redis://127.0.0.1:${proxy.port}/0`);
  t.after(() => b.close?.());
  await waitFor('redis ready', async () => a.health?.().ok === true && b.health?.().ok === true);

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
