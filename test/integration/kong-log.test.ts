// POST /v1/kong-log against a real aggregator, fed serialized log objects of
// Kong 3.x, Kong 2.x and the seed pipeline's shape (test/fixtures/kong-*).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { getJson, metricValue, postJson, startAggregator, type RunningAggregator } from '../helpers/aggregator';
import { anonymousKongLog, grpcKongLog, kongLog, kongStreamLog } from '../helpers/kong-log-fixture';

function repoRoot(): string {
  // from any outDir: the first directory up with a package.json
  for (let d = __dirname; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) throw new Error(`no package.json above ${__dirname}`);
  }
}

type Log = Record<string, any>;
const fixture = (name: string): Log => JSON.parse(readFileSync(path.join(repoRoot(), 'test', 'fixtures', name), 'utf8'));

const hmac16 = (key: string, v: string) => createHmac('sha256', key).update(v).digest('hex').slice(0, 16);
const sha16 = (v: string) => createHash('sha256').update(v).digest('hex').slice(0, 16);

/** The same log object from `n` client IPs, a second apart: enough for credential_ips at min_ips = n. */
function fromIps(log: Log, n: number): Log[] {
  return Array.from({ length: n }, (_, i) => ({ ...log, client_ip: `198.51.100.${10 + i}`, started_at: log.started_at + i * 1000 }));
}

async function start(t: { after(fn: () => Promise<void>): void }, env: Record<string, string> = {}): Promise<RunningAggregator> {
  // Fixtures carry their own (old) timestamps: the event clock follows them.
  const agg = await startAggregator({ SIEM_CLOCK: 'event', ...env });
  t.after(() => agg.close());
  return agg;
}

async function credentialFindings(agg: RunningAggregator, service: string): Promise<any[]> {
  const r = await getJson(`${agg.url}/v1/findings?type=credential_ips&service=${encodeURIComponent(service)}`);
  assert.equal(r.status, 200);
  return r.body.findings;
}

test('a Kong 3.x log object is mapped: ip, service, status, credential fingerprinted with SIEM_HASH_KEY', async (t) => {
  const agg = await start(t, { SIEM_HASH_KEY: 'k3y' });
  const log = fixture('kong-3x-log.json');
  const one = await postJson(`${agg.url}/v1/kong-log`, log);
  assert.equal(one.status, 202);
  assert.deepEqual(one.body, { accepted: 1, rejected: 0 });

  const top = await getJson(`${agg.url}/v1/top?service=orders&by=errors`);
  assert.deepEqual(top.body.items, [{ ip: '203.0.113.7', count: 1 }], 'status 401 counts as a failure of 203.0.113.7 in service "orders"');

  // http-log's queue sends an array
  const batch = await postJson(`${agg.url}/v1/kong-log`, fromIps(log, 3));
  assert.deepEqual(batch.body, { accepted: 3, rejected: 0 });
  const found = await credentialFindings(agg, 'orders');
  assert.equal(found.length, 1);
  // auto: authenticated_entity.id first, not the consumer nor the x-auth-sub header
  assert.equal(found[0].credential, hmac16('k3y', 'eaa330c0-4cff-47f5-c79e-b2e4f355207e'));
  assert.equal(found[0].count, 4);
});

test('a Kong 2.x log object (latencies.proxy, authenticated_entity.consumer_id, unnamed route) is mapped', async (t) => {
  const agg = await start(t);
  const log = fixture('kong-2x-log.json');
  assert.equal(log.authenticated_entity.consumer_id, '80f74eef-31b8-45d5-c525-ae532297ea8e');
  const r = await postJson(`${agg.url}/v1/kong-log`, fromIps(log, 3));
  assert.deepEqual(r.body, { accepted: 3, rejected: 0 });
  const found = await credentialFindings(agg, 'myservice');
  assert.equal(found.length, 1);
  // the credential's id, not its consumer_id; SHA-256 without a key
  assert.equal(found[0].credential, sha16('eaa330c0-4cff-47f5-c79e-b2e4f355207e'));
  const top = await getJson(`${agg.url}/v1/top?service=myservice&by=errors`);
  assert.equal(top.body.items.length, 3, '403 is a failure');
});

test("the seed pipeline's log (namespace, request.headers.x-auth-sub, no service) is mapped", async (t) => {
  const agg = await start(t, { SIEM_HASH_CREDENTIALS: 'false' });
  const r = await postJson(`${agg.url}/v1/kong-log`, fromIps(fixture('kong-seed-log.json'), 3));
  assert.deepEqual(r.body, { accepted: 3, rejected: 0 });
  const found = await credentialFindings(agg, 'platform-ns');
  assert.equal(found.length, 1, 'namespace stands in for the missing service');
  assert.equal(found[0].credential, '1ddaaf63-9da3-4711-8b54-f2437f8b6d43', 'x-auth-sub, raw with SIEM_HASH_CREDENTIALS=false');
  const unmatched = await getJson(`${agg.url}/v1/top?service=_unmatched`);
  assert.deepEqual(unmatched.body.items, []);
});

test('credential source by the X-Siem-Credential-Source header (http-log drops a query string), or by the query string for senders that keep it; the query wins', async (t) => {
  const agg = await start(t, { SIEM_HASH_CREDENTIALS: 'false' });
  const log = fixture('kong-3x-log.json');
  const svc = (name: string) => fromIps({ ...log, service: { ...log.service, name } }, 3);

  await postJson(`${agg.url}/v1/kong-log`, svc('by-header'), { 'x-siem-credential-source': 'consumer' });
  await postJson(`${agg.url}/v1/kong-log`, svc('by-header-name'), {
    'x-siem-credential-source': 'header',
    'x-siem-credential-header': 'user-agent',
  });
  await postJson(`${agg.url}/v1/kong-log?credential_source=consumer`, svc('by-query'));
  await postJson(`${agg.url}/v1/kong-log?credential_source=credential`, svc('query-wins'), { 'x-siem-credential-source': 'header' });
  await postJson(`${agg.url}/v1/kong-log?credential_source=header&credential_header=user-agent`, svc('other-header'));

  assert.equal((await credentialFindings(agg, 'by-header'))[0]?.credential, 'acme');
  assert.equal((await credentialFindings(agg, 'by-header-name'))[0]?.credential, 'HTTPie/3.2.2');
  assert.equal((await credentialFindings(agg, 'by-query'))[0]?.credential, 'acme');
  assert.equal((await credentialFindings(agg, 'query-wins'))[0]?.credential, 'eaa330c0-4cff-47f5-c79e-b2e4f355207e');
  assert.equal((await credentialFindings(agg, 'other-header'))[0]?.credential, 'HTTPie/3.2.2');

  const bad = await postJson(`${agg.url}/v1/kong-log?credential_source=cookie`, log);
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /credential_source/);
  const badHeader = await postJson(`${agg.url}/v1/kong-log`, log, { 'x-siem-credential-source': 'cookie' });
  assert.equal(badHeader.status, 400);
});

test('http-log\'s "application/json; charset=utf-8" content type is accepted', async (t) => {
  const agg = await start(t);
  const r = await postJson(`${agg.url}/v1/kong-log`, fixture('kong-3x-log.json'), { 'content-type': 'application/json; charset=utf-8' });
  assert.equal(r.status, 202);
  assert.equal(r.body.accepted, 1);
});

test('entries that are not log objects are rejected and counted, the rest of the batch kept; a non-object body is 400', async (t) => {
  const agg = await start(t);
  const log = fixture('kong-3x-log.json');
  const { client_ip: _drop, ...noIp } = log;
  const badIp = { ...log, client_ip: 'not-an-ip' };
  const badStatus = { ...log, response: { ...log.response, status: 999 } };
  const r = await postJson(`${agg.url}/v1/kong-log`, [log, noIp, badIp, badStatus, 42, null]);
  assert.equal(r.status, 202);
  assert.deepEqual(r.body, { accepted: 1, rejected: 5, rejected_by: { invalid: 3, ip: 1, status: 1 } });
  const text = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(text, 'kong_siem_records_received_total'), 6);
  assert.equal(metricValue(text, 'kong_siem_records_rejected_total', { reason: 'invalid' }), 3);
  assert.equal(metricValue(text, 'kong_siem_records_rejected_total', { reason: 'ip' }), 1);
  assert.equal(metricValue(text, 'kong_siem_records_rejected_total', { reason: 'status' }), 1);

  for (const body of ['"text"', '17', '{"broken":']) {
    const b = await postJson(`${agg.url}/v1/kong-log`, body);
    assert.equal(b.status, 400, body);
    assert.equal(typeof b.body.error, 'string');
  }
});

test('same bearer token as /v1/records: 401 stores nothing', async (t) => {
  const agg = await start(t, { SIEM_INGEST_TOKEN: 's3cret' });
  const log = fixture('kong-3x-log.json');
  const denied = await postJson(`${agg.url}/v1/kong-log`, log);
  assert.equal(denied.status, 401);
  const wrong = await postJson(`${agg.url}/v1/kong-log`, log, { authorization: 'Bearer nope' });
  assert.equal(wrong.status, 401);
  let text = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(text, 'kong_siem_records_received_total'), 0);
  const ok = await postJson(`${agg.url}/v1/kong-log`, log, { authorization: 'Bearer s3cret' });
  assert.equal(ok.status, 202);
  text = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(text, 'kong_siem_records_received_total'), 1);
});

test('a batch over SIEM_MAX_BATCH_RECORDS is 413', async (t) => {
  const agg = await start(t, { SIEM_MAX_BATCH_RECORDS: '2' });
  const r = await postJson(`${agg.url}/v1/kong-log`, fromIps(fixture('kong-3x-log.json'), 3));
  assert.equal(r.status, 413);
});

// issue 16 (1): an auth plugin's anonymous consumer is shared by every
// unauthenticated client: taken as a credential it was one credential_ips finding.
test("Kong's anonymous consumer is no credential, whatever the credential source", async (t) => {
  const agg = await start(t, { SIEM_HASH_CREDENTIALS: 'false', SIEM_CREDENTIAL_MIN_IPS: '2' });
  const base = 1_717_799_300_000;
  const anon = (svc: string) =>
    Array.from({ length: 5 }, (_, i) =>
      anonymousKongLog({ service: svc, ip: `198.51.100.${i + 1}`, startedAt: base + i, headers: { 'x-auth-sub': 'anonymous-sub' } }),
    );
  for (const source of ['auto', 'credential', 'consumer', 'header']) {
    const r = await postJson(`${agg.url}/v1/kong-log`, anon(`anon-${source}`), { 'x-siem-credential-source': source });
    assert.deepEqual(r.body, { accepted: 5, rejected: 0 }, source);
    assert.deepEqual(await credentialFindings(agg, `anon-${source}`), [], `${source}: no shared credential`);
  }
  // A real consumer from as many IPs still is one.
  const real = Array.from({ length: 5 }, (_, i) =>
    kongLog({ service: 'real', consumer: 'acme', credentialId: 'cred-1', ip: `198.51.100.${i + 1}`, startedAt: base + i }),
  );
  await postJson(`${agg.url}/v1/kong-log`, real);
  assert.equal((await credentialFindings(agg, 'real'))[0]?.credential, 'cred-1');
});

// red team: with no auth plugin on the route (no consumer), x-anonymous-consumer
// is whatever the client sent: it must not hide the credential header from credential_ips.
test('a client-sent x-anonymous-consumer header does not hide its credential from credential_ips', async (t) => {
  const agg = await start(t, { SIEM_HASH_CREDENTIALS: 'false', SIEM_CREDENTIAL_MIN_IPS: '3' });
  const base = 1_717_799_300_000;
  const forged = Array.from({ length: 4 }, (_, i) =>
    kongLog({
      service: 'front-auth',
      consumer: null,
      ip: `198.51.100.${i + 1}`,
      startedAt: base + i,
      headers: { 'x-auth-sub': 'stolen-sub', 'X-Anonymous-Consumer': 'true' },
    }),
  );
  const r = await postJson(`${agg.url}/v1/kong-log`, forged, { 'x-siem-credential-source': 'header' });
  assert.deepEqual(r.body, { accepted: 4, rejected: 0 });
  const found = await credentialFindings(agg, 'front-auth');
  assert.equal(found.length, 1, 'the credential used from 4 IPs is flagged');
  assert.equal(found[0].credential, 'stolen-sub');
  assert.equal(found[0].count, 4);
});

// issue 16 (2)
test('authorization and proxy-authorization are refused as the credential header (400): Kong logs them as REDACTED', async (t) => {
  const agg = await start(t);
  const log = fixture('kong-3x-log.json');
  for (const name of ['authorization', 'Authorization', 'proxy-authorization', 'PROXY-AUTHORIZATION']) {
    const byQuery = await postJson(`${agg.url}/v1/kong-log?credential_source=header&credential_header=${name}`, log);
    assert.equal(byQuery.status, 400, name);
    assert.match(byQuery.body.error, /REDACTED/);
    const byHeader = await postJson(`${agg.url}/v1/kong-log`, log, {
      'x-siem-credential-source': 'header',
      'x-siem-credential-header': name,
    });
    assert.equal(byHeader.status, 400, name);
  }
  const text = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(text, 'kong_siem_records_received_total'), 0, 'nothing stored');
});

// issue 16 (4)
test('stream-subsystem logs are counted as reason="stream", never as invalid; the HTTP logs of the batch are kept', async (t) => {
  const agg = await start(t);
  const log = fixture('kong-3x-log.json');
  const r = await postJson(`${agg.url}/v1/kong-log`, [
    kongStreamLog({ startedAt: log.started_at }),
    log,
    kongStreamLog({ startedAt: log.started_at + 1 }),
    { client_ip: '192.0.2.1' },
  ]);
  assert.equal(r.status, 202);
  assert.deepEqual(r.body, { accepted: 1, rejected: 3, rejected_by: { invalid: 1, stream: 2 } });
  const text = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(text, 'kong_siem_records_received_total'), 4);
  assert.equal(metricValue(text, 'kong_siem_records_rejected_total', { reason: 'stream' }), 2);
  assert.equal(metricValue(text, 'kong_siem_records_rejected_total', { reason: 'invalid' }), 1, 'only the malformed entry');
});

// issue 16 (5)
test("http-log's PUT and PATCH methods are accepted like POST", async (t) => {
  const agg = await start(t);
  const log = fixture('kong-3x-log.json');
  for (const method of ['PUT', 'PATCH']) {
    const res = await fetch(`${agg.url}/v1/kong-log`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([log]),
    });
    assert.equal(res.status, 202, method);
    assert.deepEqual(await res.json(), { accepted: 1, rejected: 0 });
  }
  const get = await fetch(`${agg.url}/v1/kong-log`);
  assert.equal(get.status, 404);
});

// A gRPC service answers UNAUTHENTICATED with HTTP 200 and grpc-status 16:
// taken as 200, 12 wrong tokens in a few seconds were 12 successes and no finding.
test('gRPC errors answered with HTTP 200 count by their grpc-status: a token guesser on a gRPC service is found', async (t) => {
  const agg = await start(t);
  const base = 1_717_799_300_000;
  const guesses = Array.from({ length: 12 }, (_, i) =>
    grpcKongLog(16, { service: 'grpc-accounts', ip: '203.0.113.9', startedAt: base + i * 200 }),
  );
  const ok = Array.from({ length: 12 }, (_, i) =>
    grpcKongLog(0, { service: 'grpc-accounts', ip: '203.0.113.10', startedAt: base + i * 200 }),
  );
  const r = await postJson(`${agg.url}/v1/kong-log`, [...guesses, ...ok]);
  assert.deepEqual(r.body, { accepted: 24, rejected: 0 });
  const found = await getJson(`${agg.url}/v1/findings?type=auth_bruteforce&service=grpc-accounts`);
  assert.deepEqual(
    found.body.findings.map((f: { ip: string; count: number }) => [f.ip, f.count]),
    [['203.0.113.9', 12]],
  );
  const top = await getJson(`${agg.url}/v1/top?service=grpc-accounts&by=errors`);
  assert.deepEqual(top.body.items, [{ ip: '203.0.113.9', count: 12 }], 'grpc-status 0 is a success');
});
