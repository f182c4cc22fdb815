// One client cannot hold the door (issue 13.8): real sockets on loopback
// against a listening aggregator. 127.0.0.2 is a second client address
// (Linux routes all of 127/8 to lo).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { metricValue, startAggregator } from '../helpers/aggregator';
import { waitFor } from '../helpers/loopback';

interface RawClient {
  socket: Socket;
  /** bytes received so far */
  got(): string;
  closed: Promise<void>;
  isClosed(): boolean;
}

function rawClient(port: number, localAddress = '127.0.0.1'): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    let got = '';
    let closed = false;
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    socket.on('data', (d) => (got += d));
    socket.on('error', () => {});
    const done = new Promise<void>((ok) => socket.on('close', () => ((closed = true), ok())));
    socket.once('connect', () => resolve({ socket, got: () => got, closed: done, isClosed: () => closed }));
    socket.once('error', reject);
  });
}

/** An aggregator whose sockets opened through `client` are destroyed before it closes (close waits for them). */
async function loopback(t: { after(fn: () => unknown): void }, env: Record<string, string>) {
  const agg = await startAggregator(env);
  const port = Number(new URL(agg.url).port);
  const clients: RawClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  t.after(() => {
    timers.forEach(clearInterval);
    clients.forEach((c) => c.socket.destroy());
    return agg.close();
  });
  return {
    agg,
    port,
    client: async (localAddress?: string) => {
      const c = await rawClient(port, localAddress);
      clients.push(c);
      return c;
    },
    idle: async (localAddress?: string) => {
      const c = await idleKeepAlive(port, localAddress);
      clients.push(c);
      return c;
    },
    /** write `chunk(i)` every 50 ms until the socket closes */
    drip: (c: RawClient, chunk: (i: number) => string) => {
      let i = 0;
      const timer = setInterval(() => (c.socket.writable ? c.socket.write(chunk(i++)) : clearInterval(timer)), 50);
      timers.push(timer);
    },
  };
}

const HEALTH = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';

/** A keep-alive socket that made one request and now sits idle. */
async function idleKeepAlive(port: number, localAddress?: string): Promise<RawClient> {
  const c = await rawClient(port, localAddress);
  c.socket.write(HEALTH);
  await waitFor('an answer on the keep-alive socket', () => /\r\n\r\n\{"status":"ok"\}/.test(c.got()) || c.isClosed(), 10_000);
  return c;
}

test('idle sockets of one address filling SIEM_MAX_CONNECTIONS do not lock another client out', async (t) => {
  const { client } = await loopback(t, { SIEM_MAX_CONNECTIONS: '8' });
  const held: RawClient[] = [];
  for (let i = 0; i < 8; i++) held.push(await client());
  // the per-address cap (a quarter of the total by default) closed the extra ones
  await waitFor('extra sockets of 127.0.0.1 closed', () => held.filter((c) => c.isClosed()).length === 6, 10_000);
  const other = await client('127.0.0.2');
  other.socket.write(HEALTH);
  await waitFor('an answer to 127.0.0.2', () => /^HTTP\/1\.1 200/.test(other.got()) || other.isClosed(), 10_000);
  assert.match(other.got(), /^HTTP\/1\.1 200/);
});

test('a connection over SIEM_MAX_CONNECTIONS_PER_IP is closed unanswered; other addresses and freed places are served', async (t) => {
  const { client, idle } = await loopback(t, { SIEM_MAX_CONNECTIONS: '100', SIEM_MAX_CONNECTIONS_PER_IP: '2' });
  const a = await idle();
  await idle();
  const third = await client();
  third.socket.write(HEALTH);
  await waitFor('the third socket of 127.0.0.1 closed', () => third.isClosed(), 10_000);
  assert.equal(third.got(), '', 'refused without an answer');
  const other = await idle('127.0.0.2');
  assert.match(other.got(), /^HTTP\/1\.1 200/);
  // a freed place is served again
  a.socket.destroy();
  await a.closed;
  await waitFor(
    'a new connection served once one closed',
    async () => {
      const c = await idle();
      c.socket.destroy();
      return /^HTTP\/1\.1 200/.test(c.got());
    },
    10_000,
    50,
  );
});

test('an idle keep-alive connection is closed after SIEM_IDLE_TIMEOUT_MS', async (t) => {
  const { idle } = await loopback(t, { SIEM_IDLE_TIMEOUT_MS: '300' });
  const c = await idle();
  assert.match(c.got(), /^HTTP\/1\.1 200/);
  await waitFor('the server closing the idle socket', () => c.isClosed(), 10_000);
});

test('headers trickling in are cut with 408 after SIEM_HEADERS_TIMEOUT_MS, though bytes keep coming', async (t) => {
  const { client, drip } = await loopback(t, { SIEM_HEADERS_TIMEOUT_MS: '300', SIEM_REQUEST_TIMEOUT_MS: '60000' });
  const c = await client();
  c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  drip(c, (i) => `X-Drip-${i}: y\r\n`);
  await waitFor('the server closing the socket', () => c.isClosed(), 15_000);
  assert.match(c.got(), /^HTTP\/1\.1 408/);
  assert.deepEqual(bodyOf(c.got()), {
    error: 'request not received in time (its headers within SIEM_HEADERS_TIMEOUT_MS, all of it within SIEM_REQUEST_TIMEOUT_MS)',
  });
});

/** The JSON body of a raw HTTP answer. */
function bodyOf(raw: string): unknown {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
}

// docs/api.md: every error body is {"error": "<message>"}. Node's own
// refusals (before fastify has a request) answered fastify's default
// {"error": "<reason phrase>", "message": ..., "statusCode": ...}.
test('refusals by the HTTP parser answer {"error": "..."} alone: 431 headers too large, 400 a malformed request', async (t) => {
  const { agg, client } = await loopback(t, {});
  const big = await client();
  big.socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  await waitFor('the server closing the socket', () => big.isClosed(), 15_000);
  assert.match(big.got(), /^HTTP\/1\.1 431/);
  assert.deepEqual(bodyOf(big.got()), { error: "request headers over 16384 bytes (Node.js's limit)" });
  const bad = await client();
  bad.socket.write('GET /healthz HTTP/1.1\r\nHost x\r\n\r\n');
  await waitFor('the server closing the socket', () => bad.isClosed(), 15_000);
  assert.match(bad.got(), /^HTTP\/1\.1 400/);
  assert.deepEqual(bodyOf(bad.got()), { error: 'malformed HTTP request (HPE_INVALID_HEADER_TOKEN)' });
  assert.equal((await fetch(`${agg.url}/healthz`)).status, 200);
});

test('a chunked body that never ends is cut with 408 after SIEM_REQUEST_TIMEOUT_MS, though chunks keep coming', async (t) => {
  const { agg, client, drip } = await loopback(t, { SIEM_REQUEST_TIMEOUT_MS: '500' });
  const c = await client();
  c.socket.write('POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n');
  drip(c, () => '1\r\n \r\n');
  await waitFor('the server closing the socket', () => c.isClosed(), 15_000);
  assert.match(c.got(), /^HTTP\/1\.1 408/);
  // the server still serves others
  assert.equal((await fetch(`${agg.url}/healthz`)).status, 200);
  // an ingest request refused as any other (its 408 is written past fastify's onResponse)
  const m = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(m, 'kong_siem_ingest_refused_total', { status: '408' }), 1);
});

test("an ingest body not whole within SIEM_REQUEST_TIMEOUT_MS of the request's first byte is counted when node's own timeout answers 408", async (t) => {
  // Headers taking 1 s: node's requestTimeout (from the first byte, checked every 500 ms,
  // a quarter of the headers timeout) answers 0-500 ms before the aggregator's own deadline
  // (from the parsed headers), through fastify's clientError handler.
  const { agg, client } = await loopback(t, { SIEM_REQUEST_TIMEOUT_MS: '3000', SIEM_HEADERS_TIMEOUT_MS: '2000' });
  const c = await client();
  c.socket.write('POST /v1/kong-log HTTP/1.1\r\nHost: x\r\n');
  for (let i = 0; i < 10; i++) {
    await new Promise((ok) => setTimeout(ok, 100));
    c.socket.write(`X-Slow-${i}: y\r\n`);
  }
  c.socket.write('Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
  await waitFor('the server closing the socket', () => c.isClosed(), 15_000);
  assert.match(c.got(), /^HTTP\/1\.1 408/);
  // node's answer (the client-error handler's wording), not the aggregator's deadline ("received whole")
  assert.match(c.got(), /request not received in time/);
  assert.doesNotMatch(c.got(), /received whole/);
  const m = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(m, 'kong_siem_ingest_refused_total', { status: '408' }), 1);
});
