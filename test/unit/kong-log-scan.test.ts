// Replay's line scanner (cli/kong-log-scan.ts) against JSON.parse, field by
// field: on real-shaped Kong logs written every way JSON allows (keys in any
// order and repeated, escapes, unicode, exponents, whitespace, nested junk)
// the object it keeps is JSON.parse's object cut to KONG_LOG_FIELDS, and the
// record the mapping makes of it is the same; on the same lines with a byte
// broken, whatever it accepts JSON.parse accepts too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { kongLogScanner } from '../../cli/kong-log-scan';
import { kongLogObject } from '../../cli/kong-traffic';
import { KONG_LOG_FIELDS, recordFromKongLog } from '../../common/kong-log';
import { cutTo } from '../helpers/kong-log-cut';

type Obj = Record<string, unknown>;
const CRED_HEADER = 'X-Key';
const cut = (v: unknown, fields: typeof KONG_LOG_FIELDS, top = false) => cutTo(CRED_HEADER, v, fields, top);

/** An earlier value of a repeated key, with fields the last one may lack: none of them may survive. */
const BAIT = {
  method: 'BAIT',
  status: 599,
  name: 'bait',
  id: 'bait',
  username: 'bait',
  custom_id: 'bait',
  request: 7,
  headers: { host: 'bait', 'X-Key': 'bait' },
};

/** A small seeded PRNG, so one fast-check seed writes one text. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** `v` as JSON text, written one of the many ways JSON.parse reads alike (and some it reads otherwise: repeated keys). */
function write(v: unknown, r: () => number): string {
  const ws = () => (r() < 0.1 ? [' ', '\t', '\r', '\n', '  '][Math.floor(r() * 5)] : '');
  const str = (s: string) => {
    let out = '"';
    for (const ch of s) {
      const c = ch.codePointAt(0) as number;
      if (ch === '"' || ch === '\\') out += `\\${ch}`;
      else if (c < 0x20 || (r() < 0.05 && c < 0x10000))
        out += `\\u${c.toString(16).padStart(4, '0')[r() < 0.5 ? 'toUpperCase' : 'toLowerCase']()}`;
      else if (ch === '/' && r() < 0.3) out += '\\/';
      else out += ch;
    }
    return `${out}"`;
  };
  if (v === null || typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return 'null';
    if (Number.isSafeInteger(v) && r() < 0.3) return r() < 0.5 ? `${v}E+0` : `${v}.0e0`;
    if (r() < 0.2 && v !== 0) return v.toExponential().replace('e+', r() < 0.5 ? 'e' : 'E+');
    return JSON.stringify(v);
  }
  if (typeof v === 'string') return str(v);
  if (Array.isArray(v)) return `[${ws()}${v.map((x) => write(x, r) + ws()).join(`,${ws()}`)}]`;
  const entries = Object.entries(v as Obj).filter(([, x]) => x !== undefined);
  // keys in any order
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [entries[i], entries[j]] = [entries[j] as [string, unknown], entries[i] as [string, unknown]];
  }
  const parts: string[] = [];
  for (const [k, x] of entries) {
    // a repeated key before the last: JSON.parse keeps the last value
    if (r() < 0.1) parts.push(`${str(k)}${ws()}:${ws()}${write([{ junk: [1, { a: null }] }, 'earlier', BAIT][Math.floor(r() * 3)], r)}`);
    parts.push(`${str(k)}${ws()}:${ws()}${write(x, r)}`);
  }
  return `{${ws()}${parts.join(`${ws()},${ws()}`)}${ws()}}`;
}

const junk = fc.jsonValue({ maxDepth: 3 });
const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('orders', 'sérvice', 'a"b\\c', 'x\u2028y', '\ud800', 'true'),
);
const headerName = fc.constantFrom(
  'host',
  'Host',
  'HOST',
  'hOsT',
  'x-key',
  'X-KEY',
  'x-\u212aey',
  'x-anonymous-consumer',
  'X-Anonymous-Consumer',
  '__proto__',
  'cookie',
);
const field = fc.oneof(text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), junk);
const logArb = fc.record({
  top: fc.dictionary(
    fc.constantFrom(...Object.keys(KONG_LOG_FIELDS), 'tries', 'latencies', 'workspace', 'x'),
    fc.oneof(field, fc.record({ status: field, name: field, id: field, method: field, username: field })),
    { maxKeys: 3 },
  ),
  headers: fc.array(fc.tuple(headerName, fc.oneof(text, fc.array(text, { maxLength: 2 }), field)), { maxLength: 4 }),
  status: fc.oneof(fc.integer({ min: 100, max: 599 }), fc.double({ min: 100, max: 599, noNaN: true })),
  ts: fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }), fc.constant(1.7e12)),
  seed: fc.integer(),
  breakAt: fc.option(
    fc.tuple(fc.nat(), fc.constantFrom(0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x00, 0x1f, 0x30, 0x2d, 0x65, 0x2e, 0xc3, 0xff)),
    { nil: undefined },
  ),
});

test('the scanner keeps what JSON.parse gives, cut to KONG_LOG_FIELDS, on logs written every JSON way; broken lines it declines or reads as JSON.parse does', () => {
  const scan = kongLogScanner(CRED_HEADER);
  let compared = 0;
  fc.assert(
    fc.property(logArb, (g) => {
      const log = kongLogObject({ ts: g.ts, ip: '203.0.113.7', status: 200, service: 'orders', credential: 'c' });
      (log.response as Obj).status = g.status;
      const headers = (log.request as Obj).headers as Obj;
      for (const [k, v] of g.headers) Object.defineProperty(headers, k, { value: v, enumerable: true, configurable: true, writable: true });
      Object.assign(log, g.top);
      const r = rng(g.seed);
      let bytes = Buffer.from(write(log, r), 'utf8');
      if (g.breakAt) {
        const at = g.breakAt[0] % bytes.length;
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([g.breakAt[1]]), bytes.subarray(at + 1)]);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(bytes.toString('utf8'));
      } catch {
        parsed = undefined;
      }
      // as replay hands it over: the line with its line end after it
      const buf = Buffer.concat([bytes, Buffer.from('\n{"next":1}')]);
      const got = scan(buf, 0, bytes.length);
      const isObj = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed);
      if (!g.breakAt) assert.ok(got !== undefined, `a well-formed log is scanned: ${bytes.toString('utf8').slice(0, 300)}`);
      if (got === undefined) return;
      assert.ok(isObj, `accepted what JSON.parse does not read as an object: ${JSON.stringify(bytes.toString('latin1'))}`);
      compared++;
      assert.deepEqual(got, cut(parsed, KONG_LOG_FIELDS, true), bytes.toString('utf8'));
      for (const credentialSource of ['auto', 'credential', 'consumer', 'header'] as const) {
        const o = { credentialSource, credentialHeader: CRED_HEADER, hashCredentials: false };
        assert.deepEqual(recordFromKongLog(got, o), recordFromKongLog(parsed, o));
      }
    }),
    { numRuns: 2000, seed: 20261130 },
  );
  assert.ok(compared > 1000, `lines compared: ${compared}`);
});

test('the scanner declines exactly the lines JSON.parse refuses, at every edge of the grammar', () => {
  const scan = kongLogScanner(CRED_HEADER);
  const lines = [
    '{}',
    ' {"a":1} ',
    '{,"a":1}',
    '{"a":1,}',
    '{"a":[1,]}',
    '{"a":[,1]}',
    '{"a":[]}',
    '{"a":[{}]}',
    '{"a":[[],[[]]]}',
    '{"a":{}}',
    '{"a":}',
    '{"a" 1}',
    '{"a":1 "b":2}',
    '{"a"::1}',
    '{"a":1}}',
    '{"a":1}]',
    '{"a":[1}',
    '{"a":{]}',
    '{"a":01}',
    '{"a":-0}',
    '{"a":-}',
    '{"a":1.}',
    '{"a":.5}',
    '{"a":1e}',
    '{"a":1e+}',
    '{"a":1E-7}',
    '{"a":-0.0e+00}',
    '{"a":+1}',
    '{"a":tru}',
    '{"a":nul}',
    '{"a":falsey}',
    '{"a":true}',
    '{"a":"\x01"}',
    '{"a":"\t"}',
    '{"a":"\\u12"}',
    '{"a":"\\u12G4"}',
    '{"a":"\\x"}',
    '{"a":"\\/"}',
    '{"a":"\\""}',
    '{"a":"ok"',
    '{"a":"ok',
    '{"a\\":1}',
    '{a:1}',
    "{'a':1}",
    '[{"client_ip":"1.2.3.4"}]',
    '{"client_ip":"1.2.3.4","client_ip":"5.6.7.8"}',
    '{"request":{"method":"GET"},"request":{"headers":{"Host":"x","host":"y"}}}',
    '{"request":{"headers":{"h\\u006Fst":"esc","X-\u212Aey":"kelvin"}}}',
    '{"response":{"status":200},"response":null}',
    '{"response":[{"status":200}]}',
    '{"service":{"name":"a","name":{"x":1}}}',
    // keys of a table name's length, first, middle and last byte (its signature), one other byte off
    '{"cXient_ip":"1.2.3.4","rXsponse":{"sXatus":200},"sXarted_at":1,"request":{"mXthod":"GET"}}',
    '{"client_ip":"1.2.3.4","response":{"sXatus":200,"status":201},"started_at":1,"roXte":{"nXme":"r"}}',
  ].map((l) => l.replace('\\x01', '\x01').replace('\\t', '\t'));
  for (const line of lines) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    const isObj = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed);
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    const got = scan(bytes, 0, bytes.length - 1);
    assert.equal(got !== undefined, isObj, `${JSON.stringify(line)}: scanned ${got !== undefined}, JSON.parse object ${isObj}`);
    if (got !== undefined) assert.deepEqual(got, cut(parsed, KONG_LOG_FIELDS, true), line);
  }
});
