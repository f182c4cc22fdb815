// KONG_LOG_FIELDS is the one table of what the Kong-log mapping reads: the
// mapping (recordFromKongLog, isStreamLog) reads no field outside it, and
// replay's scanner builds its objects from it, in its shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CREDENTIAL_SOURCES,
  HEADERS,
  isStreamLog,
  KONG_LOG_FIELDS,
  KONG_LOG_HEADERS,
  recordFromKongLog,
  type KongLogFields,
} from '../../common/kong-log';
import { kongLogScanner } from '../../cli/kong-log-scan';
import { REPO_ROOT } from '../helpers/paths';

const fixture = (name: string) => JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'fixtures', name), 'utf8')) as Record<string, unknown>;

/** `o` behind proxies that note every property path read ("request.headers.host"), and every object whose keys were listed. */
function watched(o: unknown, path: string, reads: Set<string>): unknown {
  if (o === null || typeof o !== 'object') return o;
  return new Proxy(o as object, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof key !== 'string' || (Array.isArray(target) && (key === 'length' || /^\d+$/.test(key)))) {
        return Array.isArray(target) && /^\d+$/.test(String(key)) ? watched(v, path, reads) : v;
      }
      const p = path ? `${path}.${key}` : key;
      reads.add(p);
      return watched(v, p, reads);
    },
    ownKeys(target) {
      reads.add(`${path}.*`);
      return Reflect.ownKeys(target);
    },
  });
}

/** Whether a read path is one the table lists (any key under HEADERS). */
function listed(path: string, fields: KongLogFields = KONG_LOG_FIELDS): boolean {
  const [head, ...rest] = path.split('.');
  const t = fields[head as string];
  if (t === undefined) return false;
  if (rest.length === 0) return true;
  if (t === HEADERS) return rest.length === 1;
  return t !== true && listed(rest.join('.'), t);
}

test('the mapping reads no field of a Kong log outside KONG_LOG_FIELDS', () => {
  const logs = ['kong-3x-log.json', 'kong-2x-log.json', 'kong-seed-log.json'].map(fixture);
  const anonymous: Record<string, unknown> = { ...fixture('kong-3x-log.json'), authenticated_entity: undefined };
  (anonymous.request as { headers: Record<string, string> }).headers['x-anonymous-consumer'] = 'true';
  const stream = { client_ip: '203.0.113.7', started_at: 1717799300110, session: { status: 200 } };
  const grpc = fixture('kong-3x-log.json');
  Object.assign(grpc, { response: { ...(grpc.response as object), status: 200, headers: { 'grpc-status': '16' } } });
  const reads = new Set<string>();
  for (const log of [...logs, anonymous, stream, grpc]) {
    for (const source of CREDENTIAL_SOURCES)
      recordFromKongLog(watched(log, '', reads), { credentialSource: source, credentialHeader: 'X-Auth-Sub', hashCredentials: false });
    isStreamLog(watched(log, '', reads));
  }
  const outside = [...reads].filter((p) => !p.endsWith('.*') && !listed(p));
  assert.deepEqual(outside, [], 'fields read but not in KONG_LOG_FIELDS');
  // and the check sees reads: the table's main fields were read
  for (const p of [
    'client_ip',
    'started_at',
    'response.status',
    'response.headers.grpc-status',
    'service.name',
    'request.headers.host',
    'session.status',
  ])
    assert.ok(reads.has(p), p);
  assert.equal(listed('request.body'), false);
  assert.equal(listed('request.headers.cookie'), true);
});

/** The key tree of a scanned object, to compare with the table's. */
function shape(o: unknown): unknown {
  if (o === null || typeof o !== 'object') return true;
  return Object.fromEntries(Object.entries(o as object).map(([k, v]) => [k, shape(v)]));
}

test('the scanner builds its log objects in the shape of KONG_LOG_FIELDS', () => {
  const scan = kongLogScanner('x-auth-sub');
  const log = {
    ...fixture('kong-3x-log.json'),
    namespace: 'ns',
    request_uri_host: 'h',
    session: { status: 1 },
    authenticated_entity: { id: 'a' },
  };
  const text = JSON.stringify(log);
  const got = scan(Buffer.from(text), 0, Buffer.byteLength(text));
  assert.ok(got, 'a clean Kong log is scanned');
  const want = (f: KongLogFields): unknown =>
    Object.fromEntries(Object.entries(f).map(([k, t]) => [k, t === true ? true : t === HEADERS ? 'headers' : want(t)]));
  const expected = want(KONG_LOG_FIELDS) as Record<string, Record<string, unknown>>;
  const actual = shape(got) as Record<string, Record<string, unknown>>;
  // the headers kept are the ones asked for, by name
  const headers = Object.keys((got as { request: { headers: object } }).request.headers).map((h) => h.toLowerCase());
  assert.deepEqual(
    headers.filter((h) => !KONG_LOG_HEADERS.includes(h) && h !== 'x-auth-sub'),
    [],
  );
  (expected.request as Record<string, unknown>).headers = actual.request?.headers;
  assert.deepEqual(actual, expected);
});
