// A credential's IP pairs (aggregator/state/memory/credential-ips.ts) against
// the Map they replaced: the same pairs in the same order of last use, the
// same newest ts, the same pair dropped past the cap and the same weight,
// in the arrays (IPv4 as numbers, IPv6 prefixes as strings) and past
// SCAN_MAX in their Map, caps lowered and raised on the way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CredentialIps, pairBytes, SCAN_MAX } from '../../aggregator/state/memory/credential-ips';
import { ipv4Number } from '../../aggregator/state/memory/ipv4';
import { PairPool } from '../../aggregator/state/memory/pair-pool';

/** The reference: the Map-based seeIp the state used before (order of last use, newest ts kept, one oldest dropped past the cap). */
function seeMap(m: Map<string, number>, ip: string, ts: number, cap: number): number {
  let delta = 0;
  const prev = m.get(ip);
  if (prev !== undefined) m.delete(ip);
  else delta += pairBytes(ip);
  m.set(ip, prev !== undefined && prev > ts ? prev : ts);
  if (m.size > cap) {
    const oldest = m.keys().next().value as string;
    m.delete(oldest);
    delta -= pairBytes(oldest);
  }
  return delta;
}

const ipArb = fc.oneof(
  // canonical IPv4 keys, from a small pool so they repeat, and the extremes of the address space
  fc.integer({ min: 0, max: 60 }).map((i) => `198.51.${i % 3}.${i}`),
  fc.constantFrom('0.0.0.0', '255.255.255.255', '1.2.3.4', '100.10.1.0', '9.99.199.255'),
  // IPv6 prefixes as ip-key.ts writes them
  fc.integer({ min: 0, max: 20 }).map((i) => `2001:db8:${i.toString(16)}::/64`),
);

const opArb = fc.oneof(
  { weight: 12, arbitrary: fc.record({ op: fc.constant('see' as const), ip: ipArb, ts: fc.integer({ min: 0, max: 50 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cap' as const), cap: fc.integer({ min: 1, max: 2 * SCAN_MAX }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const) }) },
);

function same(ips: CredentialIps, ref: Map<string, number>): void {
  assert.deepEqual([...ips], [...ref]);
  assert.deepEqual([...ips.values()], [...ref.values()]);
  assert.deepEqual([...ips.keys()], [...ref.keys()]);
  assert.equal(ips.size, ref.size);
  const walked: [string, number][] = [];
  ips.forEach((ts, ip) => walked.push([ip, ts]));
  assert.deepEqual(walked, [...ref]);
  let bytes = 0;
  for (const ip of ref.keys()) bytes += pairBytes(ip);
  assert.equal(ips.bytes, bytes);
  // the rules' count without an iterator, at every cut and stop
  for (const from of [-1, 10, 25, 49]) {
    const all = [...ref.values()].filter((ts) => ts > from).length;
    assert.equal(ips.countSince(from, Number.POSITIVE_INFINITY), all);
    for (const stop of [1, 3]) assert.equal(ips.countSince(from, stop), Math.min(all, stop));
  }
}

test('CredentialIps holds what the Map of pairs held, in the same order, with the same weights', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.array(opArb, { maxLength: 400 }), (cap0, ops) => {
      let cap = cap0;
      const ips = new CredentialIps(new PairPool());
      const ref = new Map<string, number>();
      for (const o of ops) {
        if (o.op === 'cap') cap = o.cap;
        else if (o.op === 'clear') {
          let bytes = 0;
          for (const ip of ref.keys()) bytes += pairBytes(ip);
          ref.clear();
          assert.equal(ips.clear(), -bytes);
        } else assert.equal(ips.see(ipv4Number(o.ip), o.ip, o.ts, cap), seeMap(ref, o.ip, o.ts, cap));
        for (const ip of ['198.51.0.0', '2001:db8:3::/64', '0.0.0.0']) assert.equal(ips.get(ip), ref.get(ip));
      }
      same(ips, ref);
    }),
    { numRuns: 300 },
  );
});

test('CredentialIps past SCAN_MAX pairs (a raised cap) moves to a Map and keeps order and weights', () => {
  const ips = new CredentialIps(new PairPool());
  const ref = new Map<string, number>();
  const cap = 3 * SCAN_MAX;
  for (let i = 0; i < 4 * SCAN_MAX; i++) {
    const ip = i % 5 === 0 ? `2001:db8:${i.toString(16)}::/64` : `10.${i >> 8}.${i & 255}.1`;
    assert.equal(ips.see(ipv4Number(ip), ip, i, cap), seeMap(ref, ip, i, cap));
    // a client seen again moves to the newest end
    if (i % 7 === 0) assert.equal(ips.see(ipv4Number('10.0.1.1'), '10.0.1.1', i, cap), seeMap(ref, '10.0.1.1', i, cap));
  }
  assert.equal(ips.size, cap);
  same(ips, ref);
});

test('CredentialIps restored from pairs (a snapshot) gives them back in order', () => {
  const pairs: [string, number][] = [
    ['2001:db8:1::/64', 5],
    ['198.51.100.7', 9],
    ['0.0.0.0', 1],
  ];
  const ips = new CredentialIps(new PairPool(), pairs);
  assert.deepEqual([...ips], pairs);
  assert.equal(ips.get('198.51.100.7'), 9);
  assert.equal(ips.has('198.51.100.8'), false);
});

test('an IPv4 pair weighs what its dotted text does, at every octet width', () => {
  const octets = [0, 9, 10, 99, 100, 255];
  for (const a of octets)
    for (const b of octets)
      for (const c of octets)
        for (const d of octets) {
          const ip = `${a}.${b}.${c}.${d}`;
          assert.equal(new CredentialIps(new PairPool()).see(ipv4Number(ip), ip, 0, 20), pairBytes(ip), ip);
        }
});

test('CredentialIps of many credentials on one pool: runs grown, given back, taken again and compacted never mix their pairs', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          { weight: 20, arbitrary: fc.record({ op: fc.constant('see' as const), who: fc.nat(5), ip: ipArb, ts: fc.nat(50) }) },
          { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const), who: fc.nat(5) }) },
          { weight: 1, arbitrary: fc.record({ op: fc.constant('dispose' as const), who: fc.nat(5) }) },
          { weight: 1, arbitrary: fc.record({ op: fc.constant('compact' as const), who: fc.nat(5) }) },
        ),
        { maxLength: 600 },
      ),
      fc.integer({ min: 1, max: 2 * SCAN_MAX }),
      (ops, cap) => {
        const pool = new PairPool();
        const ips = Array.from({ length: 6 }, () => new CredentialIps(pool));
        const refs = Array.from({ length: 6 }, () => new Map<string, number>());
        for (const o of ops) {
          if (o.op === 'see') {
            assert.equal(
              (ips[o.who] as CredentialIps).see(ipv4Number(o.ip), o.ip, o.ts, cap),
              seeMap(refs[o.who] as Map<string, number>, o.ip, o.ts, cap),
            );
          } else if (o.op === 'clear') {
            (ips[o.who] as CredentialIps).clear();
            (refs[o.who] as Map<string, number>).clear();
          } else if (o.op === 'compact') {
            // as the state's sweep does: every run in use moves to a fresh array
            pool.beginCompaction();
            for (const x of ips) x.relocate();
            pool.endCompaction();
          } else {
            // a key that left the state: its run goes back, a new key takes its place
            (ips[o.who] as CredentialIps).dispose();
            ips[o.who] = new CredentialIps(pool);
            (refs[o.who] as Map<string, number>).clear();
          }
        }
        ips.forEach((x, i) => same(x, refs[i] as Map<string, number>));
      },
    ),
    { numRuns: 200 },
  );
});

test('PairPool: runs given back in one class are not kept past a compaction (memory follows the pairs held)', () => {
  const pool = new PairPool();
  // 10,000 credentials of 3 pairs each (runs of 4), then all gone and 100 of 100 pairs (runs of 128)
  const small = Array.from({ length: 10_000 }, () => new CredentialIps(pool));
  small.forEach((x, i) => {
    for (let j = 0; j < 3; j++) x.see(i * 4 + j, `0.0.0.${j}`, j, 100);
  });
  for (const x of small) x.dispose();
  const big = Array.from({ length: 100 }, () => new CredentialIps(pool));
  const refs = big.map(() => new Map<string, number>());
  big.forEach((x, i) => {
    for (let j = 0; j < 100; j++) {
      const ip = `10.0.${i}.${j}`;
      assert.equal(x.see(ipv4Number(ip), ip, j, 100), seeMap(refs[i] as Map<string, number>, ip, j, 100));
    }
  });
  assert.ok(pool.wasteful, 'the small runs lie free');
  const before = pool.bytes;
  pool.beginCompaction();
  for (const x of big) x.relocate();
  pool.endCompaction();
  assert.equal(pool.wasteful, false);
  // 100 runs of 128 pairs, 16 bytes each, with half again of room
  assert.ok(pool.bytes <= 1.5 * 100 * 128 * 16 && pool.bytes < before, `${pool.bytes} of ${before}`);
  big.forEach((x, i) => same(x, refs[i] as Map<string, number>));
});

// red team: a cap raised by credential_min_ips (up to 10^6 from a batch's
// settings) made every record of a credential at its cap walk all its pairs
// (0.67 ms a record at 10^5 pairs, against 0.025 ms at the default cap).
test('past SCAN_MAX, countSince at one clock walks the pairs once however many are seen meanwhile, and counts as a walk would', () => {
  const ips = new CredentialIps(new PairPool());
  const ref = new Map<string, number>();
  const cap = 8 * SCAN_MAX;
  const ip = (i: number) => (i % 9 === 0 ? `2001:db8:${i.toString(16)}::/64` : `10.${i >> 8}.${i & 255}.7`);
  for (let i = 0; i < cap; i++) assert.equal(ips.see(ipv4Number(ip(i)), ip(i), i, cap), seeMap(ref, ip(i), i, cap));
  const naive = (from: number) => [...ref.values()].filter((ts) => ts > from).length;
  const from = cap / 2;
  const walks = ips.walks;
  // one batch at one clock: new pairs (dropping the oldest), old pairs seen again, late records
  for (let i = 0; i < 3 * cap; i++) {
    const k = i % 3 === 0 ? cap + i : i % 3 === 1 ? (i * 7) % (2 * cap) : i % cap;
    const ts = i % 3 === 2 ? from - 1 : cap + i;
    assert.equal(ips.see(ipv4Number(ip(k)), ip(k), ts, cap), seeMap(ref, ip(k), ts, cap));
    assert.equal(ips.countSince(from, Number.POSITIVE_INFINITY), naive(from), `record ${i}`);
    assert.equal(ips.countSince(from, 3), Math.min(3, naive(from)));
  }
  assert.equal(ips.walks - walks, 1, 'one walk for the whole batch');
  // another clock walks again, once
  assert.equal(ips.countSince(from + 10, Number.POSITIVE_INFINITY), naive(from + 10));
  assert.equal(ips.walks - walks, 2);
});

test('past SCAN_MAX, the count kept between walks equals a walk under any mix of pairs seen, dropped, cleared and clocks', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: SCAN_MAX + 1, max: 3 * SCAN_MAX }),
      fc.array(
        fc.oneof(
          {
            weight: 200,
            arbitrary: fc.record({
              op: fc.constant('see' as const),
              i: fc.integer({ min: 0, max: 4 * SCAN_MAX }),
              ts: fc.integer({ min: 0, max: 60 }),
            }),
          },
          { weight: 60, arbitrary: fc.record({ op: fc.constant('count' as const), from: fc.constantFrom(-1, 10, 30, 30, 30, 59) }) },
          { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const) }) },
        ),
        // long enough to pass SCAN_MAX pairs (fast-check's arrays are short by default)
        { minLength: 600, maxLength: 1500 },
      ),
      (cap, ops) => {
        const ips = new CredentialIps(new PairPool());
        const ref = new Map<string, number>();
        for (const o of ops) {
          if (o.op === 'clear') {
            ips.clear();
            ref.clear();
          } else if (o.op === 'count') {
            const want = [...ref.values()].filter((ts) => ts > o.from).length;
            assert.equal(ips.countSince(o.from, Number.POSITIVE_INFINITY), want);
          } else {
            const ip = `10.9.${o.i >> 8}.${o.i & 255}`;
            seeMap(ref, ip, o.ts, cap);
            ips.see(ipv4Number(ip), ip, o.ts, cap);
          }
        }
      },
    ),
    { numRuns: 200, seed: 7 },
  );
});
