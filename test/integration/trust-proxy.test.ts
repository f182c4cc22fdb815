// SIEM_TRUST_PROXY: bouncers sharing one key that pull through a load
// balancer keep one stream position each when the balancer's address is
// trusted (its X-Forwarded-For read, by fastify's trustProxy); unset, a
// forged X-Forwarded-For changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAggregator } from '../helpers/aggregator';
import { KEY_A, attack, pullFrom, values } from '../helpers/decisions';
import { loadConfig } from '../../aggregator/config';

const env = { SIEM_BOUNCER_KEYS: KEY_A, SIEM_SWEEP_INTERVAL_MS: '60000' };
const XFF = 'x-forwarded-for';

/**
 * A reverse proxy on 127.0.0.1 forwarding to `target` from 127.0.0.1, adding
 * the client's address to X-Forwarded-For as nginx's
 * `$proxy_add_x_forwarded_for` does (deploy/nginx/aggregators.conf).
 */
async function forwardingProxy(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const t = new URL(target);
  const server = http.createServer((req, res) => {
    const before = req.headers[XFF];
    const xff = `${before ? `${String(before)}, ` : ''}${req.socket.remoteAddress}`;
    const up = http.request(
      {
        host: t.hostname,
        port: t.port,
        localAddress: '127.0.0.1',
        method: req.method,
        path: req.url,
        headers: { ...req.headers, [XFF]: xff },
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

test("SIEM_TRUST_PROXY=127.0.0.1: two bouncers with one key behind a proxy each get a new ban; a forged X-Forwarded-For takes no one else's position", async (t) => {
  const agg = await startAggregator({ ...env, SIEM_TRUST_PROXY: '127.0.0.1' });
  t.after(() => agg.close());
  const lb = await forwardingProxy(agg.url);
  t.after(() => lb.close());
  const nodes = ['127.0.0.2', '127.0.0.3'];
  for (const h of nodes) assert.deepEqual((await pullFrom(lb.url, KEY_A, h, true)).body, { new: [], deleted: [] }, h);
  assert.equal(await attack(agg.url, '203.0.113.7'), 202);
  await agg.decisions.reconcileNow();
  // before: both came from the proxy's 127.0.0.1, one position: the second node got nothing
  for (const h of nodes) assert.deepEqual(values((await pullFrom(lb.url, KEY_A, h)).body.new), ['203.0.113.7'], h);
  for (const h of nodes) assert.deepEqual((await pullFrom(lb.url, KEY_A, h)).body, { new: [], deleted: [] }, h);

  // 127.0.0.4 writes 127.0.0.2 into X-Forwarded-For itself: the proxy appends 127.0.0.4, which is
  // not trusted, so that is its address; 127.0.0.2's position is untouched
  await pullFrom(lb.url, KEY_A, '127.0.0.4', true, { [XFF]: '127.0.0.2' });
  assert.equal(await attack(agg.url, '198.51.100.9'), 202);
  await agg.decisions.reconcileNow();
  assert.deepEqual(values((await pullFrom(lb.url, KEY_A, '127.0.0.4', false, { [XFF]: '127.0.0.2' })).body.new), ['198.51.100.9']);
  assert.deepEqual(values((await pullFrom(lb.url, KEY_A, '127.0.0.2')).body.new), ['198.51.100.9']);
  // a host that is not the proxy, reaching the aggregator directly: its X-Forwarded-For is not read either
  assert.deepEqual(values((await pullFrom(agg.url, KEY_A, '127.0.0.5', false, { [XFF]: '127.0.0.3' })).body.new), [
    '198.51.100.9',
    '203.0.113.7',
  ]);
  assert.deepEqual(values((await pullFrom(lb.url, KEY_A, '127.0.0.3')).body.new), ['198.51.100.9']);
});

test('SIEM_TRUST_PROXY unset: a forged X-Forwarded-For changes nothing, pulls from one address share one position', async (t) => {
  const agg = await startAggregator(env);
  t.after(() => agg.close());
  const forged = ['192.0.2.1', '192.0.2.2'];
  for (const f of forged) await pullFrom(agg.url, KEY_A, '127.0.0.1', true, { [XFF]: f });
  assert.equal(await attack(agg.url, '203.0.113.7'), 202);
  await agg.decisions.reconcileNow();
  assert.deepEqual(values((await pullFrom(agg.url, KEY_A, '127.0.0.1', false, { [XFF]: '192.0.2.1' })).body.new), ['203.0.113.7']);
  assert.deepEqual((await pullFrom(agg.url, KEY_A, '127.0.0.1', false, { [XFF]: '192.0.2.2' })).body, { new: [], deleted: [] });
  assert.deepEqual((await pullFrom(agg.url, KEY_A, '127.0.0.1')).body, { new: [], deleted: [] });
});

test("a trusted sender's X-Forwarded-For naming no plain address (text, a zone) keeps the sender's own position", async (t) => {
  const agg = await startAggregator({ ...env, SIEM_TRUST_PROXY: '127.0.0.0/8' });
  t.after(() => agg.close());
  const bad = ['not-an-address', `fe80::1%${'z'.repeat(200)}`];
  for (const b of bad) await pullFrom(agg.url, KEY_A, '127.0.0.2', true, { [XFF]: b });
  await pullFrom(agg.url, KEY_A, '127.0.0.2', true);
  assert.equal(await attack(agg.url, '203.0.113.7'), 202);
  await agg.decisions.reconcileNow();
  // all three are 127.0.0.2's one position: the first pull takes the ban, the others find nothing new
  assert.deepEqual(values((await pullFrom(agg.url, KEY_A, '127.0.0.2', false, { [XFF]: bad[0]! })).body.new), ['203.0.113.7']);
  assert.deepEqual((await pullFrom(agg.url, KEY_A, '127.0.0.2', false, { [XFF]: bad[1]! })).body, { new: [], deleted: [] });
  assert.deepEqual((await pullFrom(agg.url, KEY_A, '127.0.0.2')).body, { new: [], deleted: [] });
});

test('SIEM_TRUST_PROXY takes addresses and CIDRs as SIEM_ALLOWLIST does; anything else stops the start naming the variable', () => {
  assert.deepEqual(loadConfig({}).trustProxy, []);
  assert.deepEqual(loadConfig({ SIEM_TRUST_PROXY: ' 127.0.0.1, 10.1.2.3/8 ,fd00::/8,::ffff:192.168.0.0/112' }).trustProxy, [
    '127.0.0.1',
    '10.0.0.0/8',
    'fd00::/8',
    '192.168.0.0/16',
  ]);
  for (const bad of ['10.0.0.0/33', '010.0.0.1', '10.1/16', 'fe80::1%eth0', 'loopback', 'proxy.example', '0.0.0.0/0', '::/0'])
    assert.throws(
      () => loadConfig({ SIEM_TRUST_PROXY: `127.0.0.1,${bad}` }),
      (e: Error) => {
        assert.match(e.message, /^invalid configuration: SIEM_TRUST_PROXY: /);
        assert.ok(e.message.includes(JSON.stringify(bad)), e.message);
        return true;
      },
    );
});
