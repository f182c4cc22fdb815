import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FirstK, firstK } from '../../aggregator/state/first-k';

test('firstK, and FirstK fed one item at a time, give what a full sort cut at k gives, ties and all, however few the items', () => {
  // pairs ordered by their first number only: many ties, broken by the second
  const order = (a: [number, number], b: [number, number]) => a[0] - b[0] || a[1] - b[1];
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 1000 })), { maxLength: 300 }),
      fc.integer({ min: -1, max: 320 }),
      (items, k) => {
        const before = items.map((x) => [...x]);
        const want = [...items].sort(order).slice(0, Math.max(0, k));
        assert.deepEqual(firstK(items, k, order), want);
        assert.deepEqual(items, before, 'the input is left as it was');
        const cut = new FirstK(k, order);
        for (const x of items) cut.push(x);
        assert.deepEqual(cut.take(), want);
      },
    ),
    { numRuns: 500 },
  );
});
