// An aggregator's own record of the IP history hashes it renewed
// (aggregator/state/redis/renewals.ts): what it decides a write renews.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Renewals } from '../../aggregator/state/redis/renewals';

const P = 97_500;
const W = 1_767_225_600_000; // 2026-01-01

test('renewals: a hash is due unless this aggregator renewed it within the period', () => {
  const r = new Renewals();
  assert.equal(r.due('1|10.0.0.1', W, P), true, 'never renewed here: due');
  // decided, but the write did not run: still due
  assert.equal(r.due('1|10.0.0.1', W, P), true);
  r.renewed(['1|10.0.0.1'], W);
  assert.equal(r.due(`1|${'10.0.0.1'.slice(0)}`, W + P - 1000, P), false, 'renewed within the period (the same name, another string)');
  assert.equal(r.due('1|10.0.0.1', W + P, P), true, 'a period later: due');
  assert.equal(r.due('1|10.0.0.1', W - 1000, P), true, 'the wall clock stepped back: due');
  assert.equal(r.due('2|10.0.0.1', W + 1, P), true, 'another service: another hash');
});

test('renewals: bounded by its slots; a key whose slot another took is due again, never taken for that other', () => {
  const r = new Renewals(4);
  const keys = Array.from({ length: 40 }, (_, i) => `1|10.0.0.${i}`);
  r.renewed(keys, W);
  const held = keys.filter((k) => !r.due(k, W, P));
  assert.ok(held.length >= 1 && held.length <= 4, `at most 4 remembered (${held.length})`);
  // each slot holds the last key written to it: every other key is due
  assert.equal(keys.filter((k) => r.due(k, W, P)).length, keys.length - held.length);
  for (const k of keys) assert.equal(r.due(`${k}x`, W, P), true, 'a name never renewed is due, whatever shares its slot');
});
