// The memory state's own key structures against plain reference models under
// random operations: Recency (recency.ts) must order, evict and walk as
// lru-cache with `max` did (a Map in order of last use stands for it), and
// Ipv4Index (ipv4-index.ts) must answer as a Map keyed by (service, address),
// through growth and deletions that shift probe runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LRUCache } from 'lru-cache';
import { Recency } from '../../aggregator/state/memory/recency';
import { Ipv4Index } from '../../aggregator/state/memory/ipv4-index';

const recencyOp = fc.oneof(
  fc.record({ op: fc.constant('add' as const), key: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ op: fc.constant('touch' as const), key: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ op: fc.constant('remove' as const), key: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ op: fc.constant('evict' as const) }),
  fc.record({
    op: fc.constant('sweep' as const),
    mod: fc.integer({ min: 1, max: 4 }),
    max: fc.integer({ min: 0, max: 4 }),
    pass: fc.integer({ min: 0, max: 4 }),
  }),
);

test('Recency orders, evicts and walks as lru-cache with max does', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 12 }), fc.array(recencyOp, { maxLength: 300 }), (max, ops) => {
      const evictedLru: number[] = [];
      const lru = new LRUCache<number, number>({ max, dispose: (v, _k, reason) => reason === 'evict' && evictedLru.push(v) });
      const evicted: number[] = [];
      const r = new Recency<number>(max, (v) => evicted.push(v));
      const nodes = new Map<number, number>();
      const forget = (v: number) => nodes.delete(v);
      for (const o of ops) {
        if (o.op === 'add') {
          if (nodes.has(o.key)) continue;
          lru.set(o.key, o.key);
          const before = evicted.length;
          nodes.set(o.key, r.add(o.key));
          for (const v of evicted.slice(before)) forget(v);
        } else if (o.op === 'touch') {
          const n = nodes.get(o.key);
          if (n === undefined) continue;
          assert.equal(lru.get(o.key), o.key);
          r.touch(n);
          assert.equal(r.value(n), o.key);
        } else if (o.op === 'remove') {
          const n = nodes.get(o.key);
          if (n === undefined) continue;
          lru.delete(o.key);
          r.remove(n);
          forget(o.key);
        } else if (o.op === 'sweep') {
          // the sweep's expiry scan: picked values oldest first, at most max, stopping past `pass` others
          const want: number[] = [];
          let passed = 0;
          for (const k of lru.rkeys()) {
            if (want.length >= o.max) break;
            if (k % o.mod === 0) want.push(k);
            else if (++passed > o.pass) break;
          }
          for (const k of want) lru.delete(k);
          const got = r.removeOldest((v) => v % o.mod === 0, o.max, o.pass);
          assert.deepEqual(got, want);
          for (const v of got) forget(v);
        } else {
          if (lru.size > 0) lru.pop();
          const before = evicted.length;
          r.evictOldest();
          for (const v of evicted.slice(before)) forget(v);
        }
        assert.equal(r.size, lru.size);
        assert.deepEqual(evicted, evictedLru);
        assert.deepEqual(
          [...r.oldestFirst()].map((n) => r.value(n)),
          [...lru.rkeys()],
        );
      }
    }),
    { numRuns: 300 },
  );
});

test('the Recency check can fail: a touch that does not move the node is caught', () => {
  const r = new Recency<string>(3, () => undefined);
  const a = r.add('a');
  r.add('b');
  r.touch(a);
  const order = [...r.oldestFirst()].map((n) => r.value(n));
  assert.deepEqual(order, ['b', 'a']);
  assert.notDeepEqual(order, ['a', 'b']);
});

const indexOp = fc.oneof(
  fc.record({
    op: fc.constantFrom('set' as const, 'delete' as const, 'get' as const),
    sid: fc.integer({ min: 0, max: 3 }),
    // a small pool collides often; the extremes check the int32 folding of addresses
    addr: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constantFrom(0, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1)),
  }),
);

test('Ipv4Index answers as a Map of (service, address) through growth and deletions', () => {
  fc.assert(
    fc.property(fc.array(indexOp, { maxLength: 3000 }), (ops) => {
      const ix = new Ipv4Index();
      const ref = new Map<string, number>();
      let next = 0;
      for (const o of ops) {
        const k = `${o.sid}/${o.addr}`;
        if (o.op === 'set') {
          if (ref.has(k)) continue;
          ref.set(k, next);
          ix.set(o.sid, o.addr, next++);
        } else if (o.op === 'delete') {
          ref.delete(k);
          ix.delete(o.sid, o.addr);
        }
        assert.equal(ix.get(o.sid, o.addr), ref.get(k) ?? -1);
        assert.equal(ix.size, ref.size);
      }
      for (const [k, node] of ref) {
        const [sid, addr] = k.split('/').map(Number) as [number, number];
        assert.equal(ix.get(sid, addr), node);
      }
    }),
    { numRuns: 60 },
  );
});

test('Ipv4Index keeps every key through many deletions in one probe run', () => {
  const ix = new Ipv4Index();
  const n = 20_000;
  for (let a = 0; a < n; a++) ix.set(1, a * 7919, a);
  for (let a = 0; a < n; a += 2) ix.delete(1, a * 7919);
  for (let a = 0; a < n; a++) assert.equal(ix.get(1, a * 7919), a % 2 === 0 ? -1 : a);
  assert.equal(ix.size, n / 2);
});
