// IpSlots must behave exactly as the window.ts series it stands for: random
// operations on slots and on plain series side by side, compared after each,
// across the inline form, spills (many buckets, requests over 16 bits, auth
// failures over 12 bits, more than 15 answers neither failure nor success,
// buckets far apart) and the way back inline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IpSlots } from '../../aggregator/state/memory/ip-slots';
import { SPILL_BYTES, SPILL_ENTRY_BYTES } from '../../aggregator/state/memory/key-budget';
import { classify } from '../../common/record';
import { addToSeries, emptyCounts, pruneSeries, sumSeries } from '../../aggregator/window';

const kindOf = (failure: boolean, success: boolean) => ({ failure, success, auth: false });

const B0 = 30_000_000_000; // a bucket number past 2^32, as 50 ms buckets of today give

const opArb = fc.oneof(
  fc.record({
    op: fc.constant('add' as const),
    slot: fc.integer({ min: 0, max: 3 }),
    db: fc.integer({ min: -3, max: 8 }),
    status: fc.constantFrom(101, 200, 401, 404),
  }),
  fc.record({ op: fc.constant('far' as const), slot: fc.integer({ min: 0, max: 3 }), db: fc.constantFrom(-(2 ** 33), 2 ** 33) }),
  // 16 records in one sub-bucket: across the inline limit of 1xx answers; a 401 added to a
  // 'set' history of 4095 auth failures crosses theirs
  fc.record({
    op: fc.constant('burst' as const),
    slot: fc.integer({ min: 0, max: 3 }),
    db: fc.integer({ min: 0, max: 3 }),
    status: fc.constantFrom(101, 401),
  }),
  fc.record({ op: fc.constant('prune' as const), slot: fc.integer({ min: 0, max: 3 }), db: fc.integer({ min: -2, max: 8 }) }),
  fc.record({
    op: fc.constant('set' as const),
    slot: fc.integer({ min: 0, max: 3 }),
    n: fc.integer({ min: 0, max: 3 }),
    shape: fc.constantFrom('small', 'big', 'auth', 'neither'),
  }),
  fc.record({ op: fc.constant('free' as const), slot: fc.integer({ min: 0, max: 3 }) }),
);

test('slots hold the same series as window.ts, inline or spilled', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 20, maxLength: 120 }), (ops) => {
      const slots = new IpSlots(8);
      const ids = [0, 1, 2, 3].map((i) => slots.alloc(`k${i}`, 0, 0));
      const ref: number[][] = [[], [], [], []];
      for (const o of ops) {
        const slot = ids[o.slot] as number;
        const series = ref[o.slot] as number[];
        if (o.op === 'add' || o.op === 'far') {
          const k = classify(o.op === 'far' ? 200 : o.status);
          slots.add(slot, B0 + o.db, k);
          addToSeries(series, B0 + o.db, k);
        } else if (o.op === 'burst') {
          const k = classify(o.status);
          for (let j = 0; j < 16; j++) {
            slots.add(slot, B0 + o.db, k);
            addToSeries(series, B0 + o.db, k);
          }
        } else if (o.op === 'prune') {
          slots.prune(slot, B0 + o.db);
          pruneSeries(series, B0 + o.db);
        } else if (o.op === 'set') {
          const s: number[] = [];
          for (let i = 0; i < o.n; i++) {
            // the second entry of 'auth' and 'neither' is one over the inline limit
            if (o.shape === 'auth') s.push(B0 + 2 * i, 5000, 5000, 0, 4095 + i);
            else if (o.shape === 'neither') s.push(B0 + 2 * i, 20 + i, 0, 5, 0);
            else s.push(B0 + 2 * i, o.shape === 'big' ? 70_000 + i : 3, 1, 1, i === 1 ? 1 : 0);
          }
          slots.setSeries(slot, s.slice());
          ref[o.slot] = s;
        } else {
          slots.free(slot);
          ids[o.slot] = slots.alloc(`k${o.slot}`, 0, 0);
          ref[o.slot] = [];
        }
        for (let i = 0; i < 4; i++) {
          const id = ids[i] as number;
          const want = ref[i] as number[];
          assert.deepEqual(slots.series(id), want);
          for (const [from, to] of [
            [B0 - 5, B0 + 10],
            [B0, B0 + 3],
            [B0 + 2, B0 + 2],
            [-Infinity, Infinity],
          ] as const) {
            assert.deepEqual(slots.sum(id, from, to, emptyCounts()), sumSeries(want, from, to, emptyCounts()));
          }
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('a reset slot holds no history; a freed slot is reused clean', () => {
  const slots = new IpSlots(4);
  const a = slots.alloc(1, 0, 100);
  const b = slots.alloc(2, 0, 200);
  slots.add(a, 10, kindOf(true, false));
  slots.add(b, 10, kindOf(false, true));
  assert.deepEqual(slots.series(a), [10, 1, 1, 0, 0]);
  slots.reset(a);
  assert.deepEqual(slots.series(a), []);
  slots.free(b);
  const c = slots.alloc(3, 0, 300);
  assert.equal(c, b, 'a freed slot is reused');
  assert.deepEqual([slots.series(c), slots.lastTs(c), slots.key(c)], [[], 300, 3]);
});

test('slots grow past their first allocation up to the bound and keep their contents', () => {
  const slots = new IpSlots(5000);
  const ids: number[] = [];
  for (let i = 0; i < 5000; i++) {
    const s = slots.alloc(i, 0, i);
    slots.add(s, B0 + (i % 3), kindOf(i % 2 === 0, i % 2 === 1));
    ids.push(s);
  }
  assert.equal(new Set(ids).size, 5000);
  for (let i = 0; i < 5000; i += 499) {
    const s = ids[i] as number;
    assert.equal(slots.lastTs(s), i);
    assert.deepEqual(slots.series(s), [B0 + (i % 3), 1, i % 2 === 0 ? 1 : 0, i % 2 === 1 ? 1 : 0, 0]);
  }
});

test('the generation and the entry count share a word without touching each other', () => {
  const slots = new IpSlots(4);
  const a = slots.alloc(1, 2 ** 30 - 1, 0);
  const b = slots.alloc(2, 7, 0);
  for (const bucket of [B0, B0 + 1, B0 + 2]) slots.add(a, bucket, kindOf(false, true)); // three entries: spilled
  slots.add(b, B0, kindOf(true, false));
  assert.deepEqual([slots.gen(a), slots.gen(b)], [2 ** 30 - 1, 7]);
  slots.setGen(a, 3);
  slots.setGen(b, 2 ** 30 - 2);
  assert.deepEqual([slots.gen(a), slots.gen(b)], [3, 2 ** 30 - 2]);
  assert.deepEqual(slots.series(a), [B0, 1, 0, 1, 0, B0 + 1, 1, 0, 1, 0, B0 + 2, 1, 0, 1, 0]);
  slots.setGen(b, 7);
  assert.deepEqual(slots.series(b), [B0, 1, 1, 0, 0]);
});

test('auth failures and 1xx answers are held inline (no spilled bytes) up to 4095 and 15 per sub-bucket; one more spills, pruning brings it back', () => {
  const slots = new IpSlots(4);
  const a = slots.alloc(1, 0, 0);
  slots.add(a, B0, classify(200));
  slots.add(a, B0, classify(101));
  for (let i = 0; i < 4095; i++) slots.add(a, B0 + 1, classify(i % 2 ? 401 : 403));
  assert.equal(slots.spillBytesOf(a), 0, 'held inline');
  assert.deepEqual(slots.series(a), [B0, 2, 0, 1, 0, B0 + 1, 4095, 4095, 0, 4095]);
  assert.deepEqual(slots.sum(a, B0 - 1, B0 + 1, emptyCounts()), { requests: 4097, failures: 4095, successes: 1, auth_failures: 4095 });
  slots.add(a, B0 + 1, classify(401));
  assert.equal(slots.spillBytesOf(a), SPILL_BYTES + 2 * SPILL_ENTRY_BYTES, 'the 4096th auth failure spills');
  assert.deepEqual(slots.series(a), [B0, 2, 0, 1, 0, B0 + 1, 4096, 4096, 0, 4096]);
  slots.prune(a, B0 + 1);
  assert.equal(slots.spillBytesOf(a), SPILL_BYTES + SPILL_ENTRY_BYTES, 'still over the limit: spilled');
  slots.add(a, B0 + 2, classify(401));
  slots.prune(a, B0 + 2);
  assert.equal(slots.spillBytesOf(a), 0, 'back inline once pruned');
  assert.deepEqual(slots.series(a), [B0 + 2, 1, 1, 0, 1]);
  const b = slots.alloc(2, 0, 0);
  for (let i = 0; i < 15; i++) slots.add(b, B0, classify(101));
  assert.equal(slots.spillBytesOf(b), 0);
  slots.add(b, B0, classify(101));
  assert.equal(slots.spillBytesOf(b), SPILL_BYTES + SPILL_ENTRY_BYTES, 'the 16th answer neither failure nor success spills');
  assert.deepEqual(slots.sum(b, B0 - 1, B0, emptyCounts()), { requests: 16, failures: 0, successes: 0, auth_failures: 0 });
});
