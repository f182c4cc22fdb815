// An aggregator's own record of the IP history hashes it renewed
// (aggregator/state/redis/renewals.ts): what it decides a write renews.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Renewals } from '../../aggregator/state/redis/renewals';

const P = 97_500;

test('renewals: a hash is due unless this aggregator renewed it within the period', () => {
  const r = new Renewals();
  assert.equal(r.due('1|10.0.0.1', 1_000_000, P), true, 'never renewed here: due');
  // decided, but the write did not run: still due
  assert.equal(r.due('1|10.0.0.1', 1_000_000, P), true);
  r.renewed(['1|10.0.0.1'], 1_000_000);
  assert.equal(r.due('1|10.0.0.1', 1_000_000 + P - 1, P), false, 'renewed within the period');
  assert.equal(r.due('1|10.0.0.1', 1_000_000 + P, P), true, 'a period later: due');
  assert.equal(r.due('1|10.0.0.1', 999_000, P), true, 'the wall clock stepped back: due');
  assert.equal(r.due('2|10.0.0.1', 1_000_001, P), true, 'another service: another hash');
});

test('renewals: bounded, forgotten all at once when full (each then renewed once more)', () => {
  const r = new Renewals(3);
  r.renewed(['a', 'b', 'c'], 0);
  assert.equal(r.size, 3);
  r.renewed(['a'], 1);
  assert.equal(r.size, 3, 'a key already held is updated in place');
  r.renewed(['d'], 2);
  assert.equal(r.size, 1, 'full: forgotten, then d recorded');
  assert.equal(r.due('a', 3, P), true);
  assert.equal(r.due('d', 3, P), false);
  for (let i = 0; i < 100; i++) r.renewed([`k${i}`], 4);
  assert.ok(r.size <= 3);
});
