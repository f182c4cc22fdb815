import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FirstK, firstK } from '../../aggregator/state/first-k';

test('firstK gives what a full sort cut at k gives, ties and all', () => {
  // pairs ordered by their first number only: many ties, broken by the second
  const order = (a: [number, number], b: [number, number]) => a[0] - b[0] || a[1] - b[1];
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 1000 })), { maxLength: 300 }),
      fc.integer({ min: -1, max: 320 }),
      (items, k) => {
        const before = items.map((x) => [...x]);
        assert.deepEqual(firstK(items, k, order), [...items].sort(order).slice(0, Math.max(0, k)));
        assert.deepEqual(items, before, 'the input is left as it was');
      },
    ),
    { numRuns: 500 },
  );
});

test('FirstK fed one item at a time keeps what a full sort cut at k keeps, however few the items', () => {
  const order = (a: [number, number], b: [number, number]) => a[0] - b[0] || a[1] - b[1];
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 1000 })), { maxLength: 300 }),
      fc.integer({ min: -1, max: 320 }),
      (items, k) => {
        const cut = new FirstK(k, order);
        for (const x of items) cut.push(x);
        assert.deepEqual(cut.take(), [...items].sort(order).slice(0, Math.max(0, k)));
      },
    ),
    { numRuns: 500 },
  );
});
