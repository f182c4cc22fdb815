// Snapshot lines written straight into a buffer (aggregator/json-lines.ts,
// MemoryExport.stepLines) must be byte for byte what JSON.stringify writes of
// the same entries, so every file stays readable as before: the values
// alone (random strings of any UTF-16, integers), then whole exports of a
// state holding every kind of key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JsonLines } from '../../aggregator/json-lines';
import { createClock } from '../../aggregator/clock';
import { MemoryState } from '../../aggregator/state/memory/state';
import type { KeyedRecord, SnapshotEntry } from '../../aggregator/state/state';
import { DEFAULT_SETTINGS } from '../../common/settings';
import { rec } from '../helpers/records';

const text = (out: JsonLines) => Buffer.from(out.bytes()).toString('utf8');

test('strings and numbers are written as JSON.stringify writes them', () => {
  const strings = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.string({ unit: 'grapheme' }),
    fc.string(),
    fc.string({ unit: 'binary-ascii' }),
  );
  const numbers = fc.oneof(fc.maxSafeInteger(), fc.integer(), fc.double(), fc.constantFrom(0, -0, 2 ** 53, 1e21, -1e-7));
  fc.assert(
    fc.property(fc.array(fc.oneof(strings, numbers), { maxLength: 20 }), fc.nat({ max: 5 }), (values, from) => {
      const out = new JsonLines(64, 1 << 20); // small: the buffer grows and shrinks back
      const want: string[] = [];
      for (const v of values) {
        if (typeof v === 'string') {
          out.str(v, Math.min(from, v.length));
          want.push(JSON.stringify(v.slice(Math.min(from, v.length))));
        } else {
          out.int(v);
          want.push(JSON.stringify(v));
        }
        out.endLine();
      }
      assert.equal(text(out), want.map((l) => `${l}\n`).join(''));
      assert.equal(out.lines, values.length);
      out.clear();
      assert.equal(out.bytes().length, 0);
    }),
    { numRuns: 500 },
  );
  const out = new JsonLines(64, 1 << 20);
  for (const n of [0, 1, 9, 10, 255, 256, 2 ** 32 - 1, 10 * 16_777_216]) {
    out.ipv4(n % 2 ** 32);
    out.endLine();
  }
  assert.equal(text(out), '"0.0.0.0"\n"0.0.0.1"\n"0.0.0.9"\n"0.0.0.10"\n"0.0.0.255"\n"0.0.1.0"\n"255.255.255.255"\n"10.0.0.0"\n');
});

test('a line over lineMax is dropped whole and counted; the lines before and after it are kept', () => {
  const out = new JsonLines(16, 40);
  out.str('short');
  assert.equal(out.endLine(), true);
  out.str('x'.repeat(100));
  assert.equal(out.endLine(), false);
  out.int(7);
  assert.equal(out.endLine(), true);
  assert.equal(text(out), '"short"\n7\n');
  assert.deepEqual([out.lines, out.oversized], [2, 1]);
});

/** A state with IPv4 and IPv6 keys, spilled and inline histories, findings (runs), credentials seen from many IPs, names to escape. */
async function stateWithEveryKind(): Promise<{ state: MemoryState; now: number }> {
  const clock = createClock('event');
  const state = new MemoryState({
    clock,
    defaults: DEFAULT_SETTINGS,
    maxKeys: 10_000,
    maxServices: 10,
    maxFindings: 1000,
    credentialMaxIps: 300,
  });
  const T0 = 1_717_799_280_000;
  const services = ['orders', 'Zahlungen "β"\\\n', '注文🙂'];
  const credentials = ['alice', 'quote"back\\slash', 'tab\there', '🔑 key', 'é'.repeat(200)];
  const records: KeyedRecord[] = [];
  // 6000 records: each service's credentials seen from over 128 IPs (their pairs then in a Map), 'bob' from 2
  records.push(rec(T0, '10.9.9.9', 200, 'orders', 'bob'), rec(T0, '2001:db8:9::1', 200, 'orders', 'bob'));
  for (let i = 0; i < 6000; i++) {
    const service = services[i % services.length] as string;
    const ip = i % 4 === 0 ? `2001:db8:${i % 97}::${i % 7}` : `10.${(i * 7) % 256}.${i % 13}.${i % 251}`;
    // some IPs active over many seconds (spilled histories), many failing (findings)
    const ts = T0 + i * 37;
    const status = i % 3 === 0 ? 401 : i % 5 === 0 ? 500 : 200;
    records.push(rec(ts, ip, status, service, i % 2 === 0 ? credentials[i % credentials.length] : undefined));
  }
  for (let i = 0; i < records.length; i += 500) await state.apply(records.slice(i, i + 500));
  return { state, now: clock.now() };
}

test('a memory export written as lines is byte for byte JSON.stringify of its entries', async () => {
  const { state, now } = await stateWithEveryKind();
  const entries: SnapshotEntry[] = [];
  const byEntry = state.beginExport(now);
  while (byEntry.step(7, (e) => entries.push(structuredClone(e))));
  const out = new JsonLines(4096, 1 << 24);
  const byLine = state.beginExport(now);
  while (byLine.stepLines(7, out));
  assert.equal(text(out), entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
  // the state holds what the comparison is about
  const kinds = new Set(entries.map((e) => `${e[0]}:${e[0] === 'ip' && e[2].includes(':') ? 'v6' : 'v4'}`));
  assert.deepEqual([...kinds].sort(), ['credential:v4', 'ip:v4', 'ip:v6']);
  assert.ok(
    entries.some((e) => e[0] === 'ip' && e[4].length > 10),
    'a spilled history',
  );
  assert.ok(
    entries.some((e) => Object.keys(e[5]).length > 0),
    'run starts',
  );
  assert.ok(
    entries.some((e) => e[0] === 'credential' && e[4].length > 128),
    'a credential seen from many IPs',
  );
  assert.ok(
    entries.some((e) => e[0] === 'credential' && e[4].length === 2),
    'a credential seen from an IPv4 and an IPv6 key',
  );
  assert.equal(out.lines, entries.length);
});
