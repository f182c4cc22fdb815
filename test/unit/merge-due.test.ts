// The clock before which a spilled history has nothing due to merge
// (level-grid.ts mergeDueAt): IpSlots.merge skips mergeSeries until then, so
// a replay's busy clients do not pay the grid's searches on every record. The
// skip must leave every history exactly as mergeSeries makes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { insertKey, keyOf, LEVEL_MS, mergeCut, mergeDueAt, mergeSeries, seriesDueAt, TOP } from '../../aggregator/state/level-grid';
import { IpSlots } from '../../aggregator/state/memory/ip-slots';
import { addToSeries, emptyCounts, pruneSeries, STRIDE, sumSeries } from '../../aggregator/window';
import { classify } from '../../common/record';

const NOW = 1_717_000_000_000;

test('an entry is not due to merge before mergeDueAt, and is due a millisecond after it', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: TOP - 1 }),
      fc.integer({ min: -3_000_000_000, max: 3_000_000_000 }),
      fc.integer({ min: 0, max: 50_000_000 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (j, dts, dnow, frac) => {
        const ts = NOW + dts;
        const key = keyOf(j, Math.floor(ts / (LEVEL_MS[j] as number)));
        const due = mergeDueAt(key);
        const before = due - dnow - frac;
        assert.ok(key >= mergeCut(j, before), `level ${j} key ${key} due at ${due}: merged at ${before}`);
        assert.ok(key < mergeCut(j, due + 1 + dnow + frac), `level ${j} key ${key} due at ${due}: not merged after it`);
      },
    ),
    { numRuns: 2000 },
  );
  assert.equal(mergeDueAt(keyOf(TOP, Math.floor(NOW / (LEVEL_MS[TOP] as number)))), Number.POSITIVE_INFINITY);
  assert.equal(seriesDueAt([]), Number.POSITIVE_INFINITY);
});

const opArb = fc.oneof(
  // the clock moves: mostly forward, at times far (merges due), at times back a little
  fc.record({ op: fc.constant('clock' as const), step: fc.constantFrom(0, 100, 1_000, 7_000, 60_000, 500_000, 5_000_000, -2_000) }),
  // records of one client, some late (up to two days), some in a burst over several sub-buckets (spills)
  fc.record({
    op: fc.constant('add' as const),
    slot: fc.integer({ min: 0, max: 2 }),
    lag: fc.oneof(fc.integer({ min: 0, max: 30_000 }), fc.integer({ min: 0, max: 172_800_000 })),
    n: fc.integer({ min: 1, max: 6 }),
    status: fc.constantFrom(200, 401, 500),
  }),
  fc.record({ op: fc.constant('merge' as const), slot: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ op: fc.constant('prune' as const), slot: fc.integer({ min: 0, max: 2 }), back: fc.integer({ min: 10_000, max: 3_000_000 }) }),
  fc.record({ op: fc.constant('set' as const), slot: fc.integer({ min: 0, max: 2 }), n: fc.integer({ min: 0, max: 5 }) }),
);

test('slots merge spilled histories exactly as mergeSeries does, skipping only what is not due', () => {
  let spilled = 0;
  fc.assert(
    fc.property(fc.constantFrom(0, 1), fc.array(opArb, { minLength: 20, maxLength: 150 }), (finest, ops) => {
      const slots = new IpSlots(4);
      const ids = [0, 1, 2].map((i) => slots.alloc(`k${i}`, 0, 0));
      const ref: number[][] = [[], [], []];
      let now = NOW;
      for (const o of ops) {
        if (o.op === 'clock') {
          now += o.step;
          continue;
        }
        const slot = ids[o.slot] as number;
        const series = ref[o.slot] as number[];
        if (o.op === 'add') {
          const k = classify(o.status);
          // as the state does: merged to the clock before anything is added
          slots.merge(slot, now);
          mergeSeries(series, now);
          for (let i = 0; i < o.n; i++) {
            const key = insertKey(now - o.lag - i * 1_000, now, finest);
            slots.add(slot, key, k);
            addToSeries(series, key, k);
          }
        } else if (o.op === 'merge') {
          slots.merge(slot, now);
          mergeSeries(series, now);
        } else if (o.op === 'prune') {
          const min = keyOf(1, Math.floor((now - o.back) / 1_000));
          slots.prune(slot, min);
          pruneSeries(series, min);
        } else {
          // a restored history: level-1 entries of a minute ago, over the inline limit from 3 entries
          const s: number[] = [];
          for (let i = 0; i < o.n; i++) s.push(keyOf(1, Math.floor((now - 60_000) / 1_000) + i), 2, 1, 1, 0);
          slots.setSeries(slot, s.slice());
          ref[o.slot] = s;
        }
        for (let i = 0; i < 3; i++) {
          const want = ref[i] as number[];
          assert.deepEqual(slots.series(ids[i] as number), want);
          const from = keyOf(1, Math.floor((now - 600_000) / 1_000));
          assert.deepEqual(
            slots.sum(ids[i] as number, from, Number.POSITIVE_INFINITY, emptyCounts()),
            sumSeries(want, from, Infinity, emptyCounts()),
          );
        }
      }
      if (ref.some((s) => s.length > 2 * STRIDE)) spilled++;
    }),
    { numRuns: 300 },
  );
  // the histories did spill (more entries than inline), or the skip was hardly tried
  assert.ok(spilled > 150, `${spilled} of 300 runs spilled`);
});
