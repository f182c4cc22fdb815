// Record building from serialized Kong log objects as the plugin receives
// them (a JSON string), and log() never throwing whatever it is handed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { recordFromSerialized } from '../../plugin/siem/record';
import { parseConfig, ingestEndpoint } from '../../plugin/siem/config';
import { Plugin, type SiemKong } from '../../plugin/siem/index';
import { allQueues } from '../../plugin/siem/queue';
import { anonymousKongLog, grpcKongLog, kongLog, kongStreamLog } from '../helpers/kong-log-fixture';
import { isStreamLog, type RecordOptions } from '../../common/kong-log';

const KEY = 'k1';
const hashed: RecordOptions = { credentialSource: 'auto', credentialHeader: 'x-auth-sub', hashCredentials: true, hashKey: KEY };
const plain: RecordOptions = { ...hashed, hashCredentials: false };
const hmac16 = (v: string) => createHmac('sha256', KEY).update(v).digest('hex').slice(0, 16);
const ser = (o: unknown) => JSON.stringify(o);

test('a full log object gives every contract field', () => {
  const r = recordFromSerialized(
    ser(kongLog({ startedAt: 1717799300110, status: 401, consumer: 'acme', credentialId: 'c-1', method: 'DELETE', latencyMs: 12.5 })),
    hashed,
  );
  assert.deepEqual(r, {
    ts: 1717799300110,
    ip: '203.0.113.7',
    status: 401,
    service: 'orders',
    route: 'orders-v1',
    consumer: 'acme',
    credential: hmac16('c-1'),
    host: 'api.example.com',
    method: 'DELETE',
    latency_ms: 12.5,
  });
});

test('an unnamed service is recorded by id; no service at all as _unmatched', () => {
  const unnamed = kongLog({ service: null });
  const r1 = recordFromSerialized(ser(unnamed), plain);
  assert.equal(r1?.service, (unnamed.service as { id: string }).id);
  const r2 = recordFromSerialized(ser(kongLog({ noService: true })), plain);
  assert.equal(r2?.service, '_unmatched');
  assert.equal(r2?.route, undefined);
});

test('no consumer and no credential: neither field is set', () => {
  const r = recordFromSerialized(ser(kongLog({ consumer: null })), hashed);
  assert.ok(r);
  assert.equal('consumer' in r, false);
  assert.equal('credential' in r, false);
});

test('IPv6 clients and 499/502 statuses are kept as they are', () => {
  for (const [ip, status] of [
    ['2001:db8::1', 499],
    ['::ffff:192.0.2.1', 502],
    ['fe80::1', 200],
  ] as const) {
    const r = recordFromSerialized(ser(kongLog({ ip, status })), plain);
    assert.equal(r?.ip, ip);
    assert.equal(r?.status, status);
  }
});

// A gRPC service answers an error with HTTP 200 and grpc-status in the
// headers: recorded as 200, a gRPC brute force or method scan was all successes.
test("a gRPC error answered with HTTP 200 is recorded with its grpc-status's HTTP status; Kong's own status stands", () => {
  const status = (log: unknown) => recordFromSerialized(ser(log), plain)?.status;
  assert.equal(status(grpcKongLog(16)), 401, 'UNAUTHENTICATED');
  assert.equal(status(grpcKongLog(7)), 403, 'PERMISSION_DENIED');
  assert.equal(status(grpcKongLog(12)), 501, 'UNIMPLEMENTED');
  assert.equal(status(grpcKongLog(8)), 429, 'RESOURCE_EXHAUSTED');
  assert.equal(status(grpcKongLog(14)), 503, 'UNAVAILABLE');
  assert.equal(status(grpcKongLog(99)), 500, 'a code past 16 is UNKNOWN');
  assert.equal(status(grpcKongLog(0)), 200, 'OK');
  assert.equal(status(kongLog()), 200, 'no grpc-status: plain HTTP');
  assert.equal(status(grpcKongLog(16, { responseHeaders: { 'grpc-status': ['16', '0'] } })), 401, 'repeated: the first');
  // Kong's own answer on a gRPC route (key-auth's 401, rate-limiting's 429) keeps its HTTP status
  assert.equal(status(grpcKongLog(16, { status: 401 })), 401);
  assert.equal(status(grpcKongLog(8, { status: 429 })), 429);
  assert.equal(status(grpcKongLog(13, { status: 502 })), 502);
});

test('credential_source picks credential, consumer or header; auto takes the first that exists', () => {
  const log = kongLog({ consumer: 'acme', credentialId: 'c-1', headers: { 'X-Auth-Sub': 'sub-9' } });
  const pick = (credentialSource: RecordOptions['credentialSource']) =>
    recordFromSerialized(ser(log), { ...plain, credentialSource })?.credential;
  assert.equal(pick('credential'), 'c-1');
  assert.equal(pick('consumer'), 'acme');
  assert.equal(pick('header'), 'sub-9');
  assert.equal(pick('auto'), 'c-1');
  assert.equal(recordFromSerialized(ser(kongLog({ consumer: 'acme' })), plain)?.credential, 'acme');
  assert.equal(recordFromSerialized(ser(kongLog({ consumer: null, headers: { 'x-auth-sub': 'sub-9' } })), plain)?.credential, 'sub-9');
  assert.equal(recordFromSerialized(ser(kongLog({ consumer: null, headers: { 'x-auth-sub': '' } })), plain)?.credential, undefined);
});

// issue 16 (1)
test("an auth plugin's anonymous consumer is no credential, whatever the source; its name stays as context", () => {
  const anon = anonymousKongLog({ headers: { 'x-auth-sub': 'sub-9' } });
  for (const credentialSource of ['auto', 'credential', 'consumer', 'header'] as const) {
    const r = recordFromSerialized(ser(anon), { ...plain, credentialSource });
    assert.equal(r?.credential, undefined, credentialSource);
    assert.equal(r?.consumer, 'anonymous');
  }
  // The header in another case, as some proxies rewrite it.
  assert.equal(recordFromSerialized(ser(anonymousKongLog({ headers: { 'X-Anonymous-Consumer': 'True' } })), plain)?.credential, undefined);
  // An authenticated request keeps its credential even when a client sent the header itself.
  const spoofed = kongLog({ consumer: 'acme', credentialId: 'c-1', headers: { 'x-anonymous-consumer': 'true' } });
  assert.equal(recordFromSerialized(ser(spoofed), plain)?.credential, 'c-1');
  // A consumer without the anonymous marker is still a consumer credential.
  assert.equal(recordFromSerialized(ser(kongLog({ consumer: 'acme', credentialId: null })), plain)?.credential, 'acme');
});

// red team: the header is the client's to send; only a consumer standing in makes it Kong's marker
test('a client sending x-anonymous-consumer itself, with no consumer, keeps its header credential', () => {
  const forged = kongLog({ consumer: null, headers: { 'x-auth-sub': 'sub-9', 'x-anonymous-consumer': 'true' } });
  for (const credentialSource of ['auto', 'header'] as const)
    assert.equal(recordFromSerialized(ser(forged), { ...plain, credentialSource })?.credential, 'sub-9', credentialSource);
  // an empty consumer object is no consumer either
  const empty = { ...forged, consumer: {} };
  assert.equal(recordFromSerialized(ser(empty), { ...plain, credentialSource: 'header' })?.credential, 'sub-9');
  // the anonymous consumer itself still hides it
  assert.equal(recordFromSerialized(ser(anonymousKongLog({ headers: { 'x-auth-sub': 'sub-9' } })), plain)?.credential, undefined);
});

// red team 2: ingest refuses a record whose string is over 256 code points, so a raw one would hide the client's every request
test('with hash_credentials off, a credential over 256 code points goes as its fingerprint (whole), one of 256 raw', () => {
  const at = (value: string) =>
    recordFromSerialized(ser(kongLog({ consumer: null, status: 401, headers: { 'x-auth-sub': value } })), plain)?.credential;
  assert.equal(at('a'.repeat(256)), 'a'.repeat(256));
  assert.equal(at('a'.repeat(257)), hmac16('a'.repeat(257)));
  // code points, not UTF-16 units: 256 astral characters are 512 units and still go raw
  assert.equal(at('\u{1F600}'.repeat(256)), '\u{1F600}'.repeat(256));
  // two long values sharing their first 256 code points stay two
  assert.notEqual(at(`${'a'.repeat(256)}-1`), at(`${'a'.repeat(256)}-2`));
  // without a key: plain SHA-256, as with hashing on
  const log = ser(kongLog({ consumer: null, headers: { 'x-auth-sub': 'b'.repeat(300) } }));
  assert.equal(
    recordFromSerialized(log, { ...plain, hashKey: undefined })?.credential,
    createHash('sha256').update('b'.repeat(300)).digest('hex').slice(0, 16),
  );
});

// issue 16 (4)
test('a stream-subsystem log is recognised as such and gives no record; HTTP logs are not stream logs', () => {
  assert.equal(isStreamLog(kongStreamLog()), true);
  assert.equal(recordFromSerialized(ser(kongStreamLog()), plain), undefined);
  assert.equal(isStreamLog(kongLog()), false);
  assert.equal(isStreamLog({ client_ip: '1.2.3.4' }), false);
  assert.equal(isStreamLog({ session: {} }), false);
  assert.equal(isStreamLog(null), false);
});

// issue 16 (2)
test('config: a redacted header as credential_header (a caller Kong did not validate) falls back to the default', () => {
  assert.equal(parseConfig({ credential_header: 'Authorization' }).record.credentialHeader, 'x-auth-sub');
  assert.equal(parseConfig({ credential_header: 'proxy-authorization' }).record.credentialHeader, 'x-auth-sub');
  assert.equal(parseConfig({ credential_header: 'x-user' }).record.credentialHeader, 'x-user');
});

test('hash_credentials without a key fingerprints with plain SHA-256, never raw', () => {
  const r = recordFromSerialized(ser(kongLog({ consumer: 'acme' })), {
    credentialSource: 'auto',
    credentialHeader: 'x-auth-sub',
    hashCredentials: true,
  });
  assert.equal(r?.credential, createHash('sha256').update('acme').digest('hex').slice(0, 16));
});

test('objects without client_ip, status or started_at, and non-JSON, give no record', () => {
  for (const drop of ['client_ip', 'started_at']) {
    const log = kongLog();
    delete log[drop];
    assert.equal(recordFromSerialized(ser(log), plain), undefined, drop);
  }
  const noStatus = kongLog();
  delete (noStatus.response as Record<string, unknown>).status;
  assert.equal(recordFromSerialized(ser(noStatus), plain), undefined);
  for (const bad of ['', '{', 'null', '[]', '42', '"x"']) assert.equal(recordFromSerialized(bad, plain), undefined, bad);
  assert.equal(recordFromSerialized(null, plain), undefined);
  // An already decoded object works too.
  assert.equal(recordFromSerialized(kongLog(), plain)?.service, 'orders');
});

test('config: defaults for missing, null or out-of-range values; /v1/records appended to the base path', () => {
  const d = parseConfig({
    aggregator_url: 'http://agg:9457/siem/',
    hash_key: null,
    ingest_token: null,
    batch_max_size: 0,
    timeout_ms: 2.5,
    error_ratio: 1.5,
    top_n: 7,
  });
  assert.equal(d.delivery?.endpoint, 'http://agg:9457/siem/v1/records');
  assert.equal(d.delivery?.batchMaxSize, 200);
  assert.equal(d.delivery?.timeoutMs, 2000);
  assert.equal(d.delivery?.ingestToken, undefined);
  assert.equal(d.record.hashKey, undefined);
  assert.equal(d.settings.error_ratio, 0.5);
  assert.equal(d.settings.top_n, 7);
  assert.equal(parseConfig(undefined).delivery?.endpoint, 'http://127.0.0.1:9457/v1/records');
  assert.equal(ingestEndpoint('https://h/?q=1'), 'https://h/v1/records');
  assert.throws(() => ingestEndpoint('ftp://h/'));
});

test("an aggregator_url that Kong's pattern lets through but that is no URL sends nothing anywhere, and says so", async () => {
  // Each passes Kong's `^https?://[^/]+`; none parses. Before, each fell back to
  // http://127.0.0.1:9457 and would have posted the records there with this instance's token.
  for (const url of ['http://127.0.0.1:94570', 'http://agg host:9457', 'http://[::1', 'not a url']) {
    const c = parseConfig({ aggregator_url: url, ingest_token: 'tok' });
    assert.equal(c.delivery, undefined, url);
    assert.match(c.urlError ?? '', /^aggregator_url ".*" is not a usable URL \(/, url);
  }
  assert.match(parseConfig({ aggregator_url: 'ftp://agg/' }).urlError ?? '', /scheme ftp: is not http: or https:/);
  assert.match(
    parseConfig({ aggregator_url: 'http://siem:s3cret@agg:94570' }).urlError ?? '',
    /"http:\/\/\*\*\*@agg:94570"/,
    'no password in the log',
  );
  assert.match(
    parseConfig({ aggregator_url: 'http://siem:p@ss@agg:94570/x@y' }).urlError ?? '',
    /"http:\/\/\*\*\*@agg:94570\/x@y"/,
    'up to the last @ of the authority',
  );

  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof process.stderr.write;
  let serialized = 0;
  try {
    const before = allQueues().length;
    const plugin = new Plugin({ aggregator_url: 'http://127.0.0.1:94570', ingest_token: 'secret-of-orders' });
    await plugin.log({ log: { serialize: async () => (serialized++, ser(kongLog())) } });
    assert.equal(allQueues().length, before, 'no delivery queue, to the default URL or any other');
    assert.ok(!allQueues().some((q) => q.endpoint === 'http://127.0.0.1:9457/v1/records'));
  } finally {
    process.stderr.write = write;
  }
  assert.equal(serialized, 0, 'no PDK round-trip for a request that cannot be recorded');
  assert.match(
    written.join(''),
    /\[siem\] warn: config: aggregator_url "http:\/\/127\.0\.0\.1:94570" is not a usable URL .*records nothing/,
  );
});

test('an aggregator_url whose host Node reads otherwise than it is written sends nothing, and says so', async () => {
  // A listener standing in for the host Node's URL parser would post to.
  const got: string[] = [];
  const server = http.createServer((req, res) => {
    got.push(String(req.headers.authorization));
    req.resume();
    res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":1,"rejected":0}');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  try {
    // Each passes Kong's `^https?://[^/]+` and parsed: curl, Go and Python read the host
    // after the backslash (agg.invalid), Node the one before it (this listener).
    const url = `http://127.0.0.1:${port}\\@agg.invalid:9457`;
    const plugin = new Plugin({ aggregator_url: url, ingest_token: 'secret-of-orders', flush_interval_ms: 50 });
    await plugin.log({ log: { serialize: async () => ser(kongLog()) } });
    await new Promise((ok) => setTimeout(ok, 400));
    assert.deepEqual(got, [], 'the token went to a host the config does not name');
    assert.ok(!allQueues().some((q) => q.endpoint.includes(`:${port}/`)));
  } finally {
    server.close();
  }
  const refused: [string, RegExp][] = [
    ['http://evil.example\\@agg.internal:9457', /backslash/],
    ['http://agg\t.internal:9457', /control/],
    ['http://agg.int\nernal:9457', /control/],
    ['http://ａｇｇ.internal:9457', /non-ASCII/],
    ['http://agg.internal\u3002evil.example:9457', /non-ASCII/],
    ['http://%61gg.internal:9457', /host "%61gg.internal" is read as agg.internal/],
    // inet_aton's forms, which the aggregator refuses for addresses (010.0.0.1 is octal)
    ['http://010.0.0.1:9457', /host "010.0.0.1" is read as 8.0.0.1/],
    ['http://127.1:9457', /read as 127.0.0.1/],
    ['http://2130706433:9457', /read as 127.0.0.1/],
  ];
  for (const [url, why] of refused) {
    const c = parseConfig({ aggregator_url: url, ingest_token: 'tok' });
    assert.equal(c.delivery, undefined, url);
    assert.match(c.urlError ?? '', why, url);
  }
  assert.doesNotMatch(parseConfig({ aggregator_url: 'http://siem:s3cret\\@agg:9457' }).urlError ?? '', /s3cret/);
  // written as read: kept
  for (const [url, endpoint] of [
    ['http://agg.internal:9457', 'http://agg.internal:9457/v1/records'],
    ['http://AGG.internal.:9457/siem/', 'http://agg.internal.:9457/siem/v1/records'],
    ['http://[2001:DB8::1]:9457', 'http://[2001:db8::1]:9457/v1/records'],
    ['http://[::ffff:127.0.0.1]:9457', 'http://[::ffff:7f00:1]:9457/v1/records'],
    ['http://siem:p@ss@kong_siem:9457', 'http://siem:p%40ss@kong_siem:9457/v1/records'],
    ['https://agg.internal\n', 'https://agg.internal/v1/records'],
  ])
    assert.equal(parseConfig({ aggregator_url: url }).delivery?.endpoint, endpoint, url);
});

// Queued towards a closed loopback port with a long interval: nothing is sent during the test.
const quietConfig = { aggregator_url: 'http://127.0.0.1:9/', flush_interval_ms: 60000, batch_max_size: 10000, queue_max_records: 100 };

test('log() never throws: bad serialize results, PDK errors, odd field types', async () => {
  const plugin = new Plugin(quietConfig);
  const kongs: SiemKong[] = [
    { log: { serialize: async () => 'not json' } },
    { log: { serialize: async () => null } },
    { log: { serialize: async () => undefined } },
    { log: { serialize: async () => 42 } },
    {
      log: {
        serialize: async () => {
          throw new Error('PDK method kong.log.serialize failed: timeout');
        },
      },
    },
    {
      log: {
        serialize: () => {
          throw new TypeError('sync throw');
        },
      },
    },
    { log: { serialize: async () => ser({ client_ip: ['x'], started_at: {}, response: { status: 'abc' } }) } },
    { log: { serialize: async () => ser({ ...kongLog(), service: 'a string', consumer: 7, request: null, latencies: null }) } },
    { log: null } as unknown as SiemKong,
    undefined as unknown as SiemKong,
  ];
  for (const k of kongs) await assert.doesNotReject(plugin.log(k));
});

test('log() never throws on arbitrary JSON (property)', async () => {
  const plugin = new Plugin(quietConfig);
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.jsonValue(),
        fc.record({
          client_ip: fc.jsonValue(),
          started_at: fc.jsonValue(),
          response: fc.jsonValue(),
          service: fc.jsonValue(),
          consumer: fc.jsonValue(),
        }),
      ),
      async (v) => {
        await plugin.log({ log: { serialize: async () => JSON.stringify(v) } });
        const r = recordFromSerialized(JSON.stringify(v), hashed);
        if (r !== undefined) {
          assert.equal(typeof r.ip, 'string');
          assert.ok(Number.isInteger(r.status) && Number.isInteger(r.ts));
          assert.equal(typeof r.service, 'string');
        }
      },
    ),
    { numRuns: 300 },
  );
});
