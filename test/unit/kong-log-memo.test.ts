// Replay's scanner remembers top-level values it has scanned (cli/kong-log-memo.ts):
// against JSON.parse, on lines that share such subtrees byte for byte, or
// differ from a remembered one in one byte (inside it, breaking it, or just
// after it), repeat a key, or sit in a buffer whose bytes go on past the line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { kongLogScanner, type KongLogScanner } from '../../cli/kong-log-scan';
import { KeyMemo, MISS_SAMPLE, MISS_STREAK } from '../../cli/kong-log-memo';
import { kongLogObject } from '../../cli/kong-traffic';
import { KONG_LOG_FIELDS, recordFromKongLog } from '../../common/kong-log';
import { cutTo } from '../helpers/kong-log-cut';

const CRED = 'X-Key';
const log = kongLogObject({ ts: 1717796717653, ip: '203.0.113.7', status: 200, service: 'orders', credential: 'c', consumer: 'al' });
const ROUTE = JSON.stringify(log.route);
const SERVICE = JSON.stringify(log.service);
/** a top-level key outside KONG_LOG_FIELDS, long enough to be remembered */
const PLUGIN = JSON.stringify({ name: 'request-transformer', config: { add: ['x-a:1', 'x-b:2'], remove: [] }, on: true });
/** the rest of the line, after the keys a test writes itself */
const REST = Object.entries(log)
  .filter(([k]) => k !== 'route' && k !== 'service')
  .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
  .join(',');

/** `text` in a buffer followed by `after` (a line end, then what the chunk holds next): the scanner's object equals JSON.parse's cut to the table, and it declines exactly what JSON.parse does not read as an object. */
function check(scan: KongLogScanner, text: string, after = '\n{"next":1}'): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const isObj = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed);
  const bytes = Buffer.from(text, 'utf8');
  const got = scan(Buffer.concat([bytes, Buffer.from(after, 'utf8')]), 0, bytes.length);
  assert.equal(got !== undefined, isObj, `scanned ${got !== undefined}, JSON.parse object ${isObj}: ${text}`);
  if (got === undefined) return false;
  assert.deepEqual(got, cutTo(CRED, parsed, KONG_LOG_FIELDS, true), text);
  const o = { credentialSource: 'auto', credentialHeader: CRED, hashCredentials: false } as const;
  assert.deepEqual(recordFromKongLog(got, o), recordFromKongLog(parsed, o));
  return true;
}

const withTop = (route: string, service = SERVICE, sep = ',') => `{"route":${route}${sep}"service":${service},${REST}}`;

test('every one-byte change of a remembered route or service gives what JSON.parse gives: new values when valid, a declined line when not', () => {
  const scan = kongLogScanner(CRED);
  let valid = 0;
  let invalid = 0;
  for (const [which, text] of [
    ['route', ROUTE],
    ['service', SERVICE],
  ] as const) {
    const line = (v: string) => (which === 'route' ? withTop(v) : withTop(ROUTE, v));
    for (let p = 0; p < text.length; p++) {
      const c = text.charCodeAt(p);
      // another letter or digit (a different kept value, or a number with a leading zero), a quote, a brace, a space, a control byte
      for (const r of [c >= 48 && c <= 57 ? 48 + ((c - 47) % 10) : c === 122 ? 97 : c + 1, 34, 125, 32, 1]) {
        if (r === c) continue;
        assert.ok(check(scan, line(text)), 'the unchanged line');
        if (check(scan, line(text.slice(0, p) + String.fromCharCode(r) + text.slice(p + 1)))) valid++;
        else invalid++;
      }
    }
  }
  assert.ok(valid > 1000 && invalid > 1000, `changed lines valid ${valid}, invalid ${invalid}`);
});

test('a remembered value followed by other bytes: the next byte decides as before (12 against 123, junk after the closing brace)', () => {
  const scan = kongLogScanner(CRED);
  const r12 = ROUTE.replace(/}$/, ',"n":12}');
  const r123 = ROUTE.replace(/}$/, ',"n":123}');
  const cases: [string, boolean][] = [
    [withTop(r12), true],
    [withTop(r123), true],
    [withTop(r12), true],
    [`{"route":${r12.slice(0, -1)}3},"service":${SERVICE},${REST}}`, true],
    [withTop(r12, SERVICE, ''), false],
    [withTop(r12, SERVICE, ' ,'), true],
    [withTop(r12, SERVICE, '},'), false],
    [withTop(r12, SERVICE, '3,'), false],
    [withTop(r12, SERVICE, ';'), false],
    [`{"route":${r12}}`, true],
    [`{"route":${r12}`, false],
    [`{"route":${r12}}}`, false],
    [`{"route":${r12},"started_at":12}`, true],
    [`{"route":${r12},"started_at":123}`, true],
    [`{"route":${r12},"started_at":12.}`, false],
  ];
  for (let round = 0; round < 3; round++) for (const [text, ok] of cases) assert.equal(check(scan, text), ok, `round ${round}: ${text}`);
});

test('a repeated top-level key keeps its last value, whether either was remembered or not', () => {
  const scan = kongLogScanner(CRED);
  const other = ROUTE.replace('"orders-route"', '"orders-routf"');
  const lines = [
    `{"route":${ROUTE},"route":${other},${REST}}`,
    `{"route":${other},"route":${ROUTE},${REST}}`,
    `{"route":${ROUTE},"service":${SERVICE},"route":${ROUTE},${REST}}`,
    `{"route":${ROUTE},"route":null,${REST}}`,
    `{"route":${ROUTE},"route":[${ROUTE}],${REST}}`,
    `{"route":[${other}],"route":${other},${REST}}`,
    `{"route":${other},"route":{},${REST}}`,
    `{"plugin":${PLUGIN},"route":${ROUTE},"plugin":${PLUGIN},"route":${other},${REST}}`,
    `{"route":${ROUTE},"route":${ROUTE.slice(0, -1)},${REST}}`,
    // kept leaves holding an object: JSON.parse's value, never a memo's
    `{${REST},"client_ip":${PLUGIN},"started_at":${PLUGIN}}`,
    `{${REST},"client_ip":${ROUTE}}`,
  ];
  for (let round = 0; round < 3; round++) for (const text of lines) check(scan, text);
  // the route name JSON.parse keeps is the last one
  const bytes = Buffer.from(lines[0] as string);
  const got = scan(bytes, 0, bytes.length) as { route: { name: string } };
  assert.equal(got.route.name, 'orders-routf');
});

test('a line ends where its caller says, and the memo keeps its own copy of a value: reused chunks, and a value that would go on past the line end', () => {
  const scan = kongLogScanner(CRED);
  // JSON whitespace holds a line end: one range with it inside is one object...
  const cutAt = ROUTE.indexOf(',"paths"') + 1;
  const split = `${ROUTE.slice(0, cutAt)}\n${ROUTE.slice(cutAt)}`;
  const whole = `{"route":${split},${REST}}`;
  for (let round = 0; round < 3; round++) {
    assert.ok(check(scan, whole, '\n'), 'one range holding the whole value');
    // ...but a chunk whose line ends at that byte holds half of it: the memo must not read on
    const head = whole.slice(0, whole.indexOf('\n'));
    assert.equal(check(scan, head, whole.slice(head.length)), false, 'a line that ends inside a remembered value');
  }
  // one chunk buffer reused: a value seen at the same place, then other bytes written there
  const chunk = Buffer.alloc(8192, 0x20);
  const other = ROUTE.replace('"orders-route"', '"orders-routf"');
  for (const [k, route] of [ROUTE, ROUTE, other, ROUTE, other, other].entries()) {
    const text = withTop(route);
    chunk.fill(0x0a);
    const from = 100 + (k % 2) * 7;
    const to = from + chunk.write(text, from);
    const got = scan(chunk, from, to) as { route: { name: string } };
    assert.deepEqual(got, cutTo(CRED, JSON.parse(text), KONG_LOG_FIELDS, true));
    assert.equal(got.route.name, route === ROUTE ? 'orders-route' : 'orders-routf');
  }
});

test('lines drawn from a few subtrees, one byte off here and there, repeated keys: each as JSON.parse reads it', () => {
  const scan = kongLogScanner(CRED);
  const routes = [
    ROUTE,
    ROUTE.replace('"orders-route"', '"orders-routf"'),
    ROUTE.replace('"v0"', '"v1"'),
    `[${ROUTE}]`,
    ROUTE.replace(/}$/, ',"n":12}'),
  ];
  const services = [SERVICE, SERVICE.replace('"orders"', '"ordert"')];
  const member = fc.oneof(
    fc.tuple(fc.constant('route'), fc.constantFrom(...routes)),
    fc.tuple(fc.constant('service'), fc.constantFrom(...services)),
    fc.tuple(fc.constantFrom('plugin', 'tries', 'client_ip'), fc.constantFrom(PLUGIN, ROUTE)),
  );
  const lineArb = fc.record({
    members: fc.array(member, { minLength: 1, maxLength: 5 }),
    // one byte of the line replaced, at a position within the members written
    flip: fc.option(fc.tuple(fc.nat(), fc.constantFrom(0x22, 0x2c, 0x7d, 0x5d, 0x31, 0x33, 0x20, 0x00)), { nil: undefined }),
  });
  fc.assert(
    fc.property(fc.array(lineArb, { minLength: 2, maxLength: 12 }), (ls) => {
      for (const l of ls) {
        const head = l.members.map(([k, v]) => `"${k}":${v}`).join(',');
        let text = `{${head},${REST}}`;
        if (l.flip) {
          const at = 1 + (l.flip[0] % head.length);
          text = text.slice(0, at) + String.fromCharCode(l.flip[1]) + text.slice(at + 1);
        }
        check(scan, text);
      }
    }),
    { numRuns: 400, seed: 20261201 },
  );
});

test('a key whose values stopped repeating is looked up one line in MISS_SAMPLE, and found again once a value repeats', () => {
  const m = new KeyMemo([], []);
  const value = (k: number) => {
    const b = new Uint8Array(Buffer.from(`{"balancer_start":${1717794658840 + k},"ip":"10.0.0.12","port":8080,"pad":"${'p'.repeat(40)}"}`));
    return { b, w: new DataView(b.buffer) };
  };
  for (let k = 0; k < 3 * MISS_STREAK; k++) {
    const { b, w } = value(k);
    assert.equal(m.find(b, w, 0, b.length), -1);
    m.add(b, w, 0, b.length);
  }
  // one value from now on: remembered at a sampled line, then found at each line
  const { b, w } = value(-1);
  const found: boolean[] = [];
  for (let line = 0; line < 4 * MISS_SAMPLE; line++) {
    const end = m.find(b, w, 0, b.length);
    found.push(end === b.length);
    if (end < 0) m.add(b, w, 0, b.length);
  }
  const first = found.indexOf(true);
  assert.ok(first >= 0 && first <= 2 * MISS_SAMPLE, `found first at line ${first}`);
  assert.ok(found.slice(first).every(Boolean), 'found at every line after');
});

test('lines whose tries never repeat, then repeat: each as JSON.parse reads it', () => {
  const scan = kongLogScanner(CRED);
  for (let k = 0; k < 4 * MISS_STREAK; k++) {
    const tries = JSON.stringify([{ balancer_start: 1717794658840 + (k < 2 * MISS_STREAK ? k : 0), ip: '10.0.0.12', port: 8080 }]);
    assert.ok(check(scan, `{"tries":${tries},${REST}}`));
    assert.ok(check(scan, withTop(ROUTE)));
  }
});
