// An aggregator's own record of the IP history hashes it renewed
// (aggregator/state/redis/renewals.ts): what it decides a write renews.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Renewals } from '../../aggregator/state/redis/renewals';

// the defaults' TTL (2 x the longest window + 60 s), renewed once an eighth of it passed
const TTL = 780_000;
const P = TTL / 8;
const NEED = TTL - P;
const W = 1_767_225_600_000; // 2026-01-01

test('renewals: a hash is due unless this aggregator renewed it within the period', () => {
  const r = new Renewals();
  assert.equal(r.due('1|10.0.0.1', W, NEED), true, 'never renewed here: due');
  // decided, but the write did not run: still due
  assert.equal(r.due('1|10.0.0.1', W, NEED), true);
  r.renewed(['1|10.0.0.1'], [TTL], W);
  assert.equal(r.due(`1|${'10.0.0.1'.slice(0)}`, W + P - 1000, NEED), false, 'renewed within the period (the same name, another string)');
  assert.equal(r.due('1|10.0.0.1', W + P, NEED), true, 'a period later: due');
  assert.equal(r.due('1|10.0.0.1', W - 1000, NEED), true, 'the wall clock stepped back: due');
  assert.equal(r.due('2|10.0.0.1', W + 1, NEED), true, 'another service: another hash');
});

test('renewals: bounded by its slots; a key whose slot another took is due again, never taken for that other', () => {
  const r = new Renewals(4);
  const keys = Array.from({ length: 40 }, (_, i) => `1|10.0.0.${i}`);
  r.renewed(
    keys,
    keys.map(() => TTL),
    W,
  );
  const held = keys.filter((k) => !r.due(k, W, NEED));
  assert.ok(held.length >= 1 && held.length <= 4, `at most 4 remembered (${held.length})`);
  // each slot holds the last key written to it: every other key is due
  assert.equal(keys.filter((k) => r.due(k, W, NEED)).length, keys.length - held.length);
  for (const k of keys) assert.equal(r.due(`${k}x`, W, NEED), true, 'a name never renewed is due, whatever shares its slot');
});

test('renewals: a hash renewed with a shorter TTL than the one now in force is due at once, not a new period later', () => {
  const r = new Renewals();
  // renewed at a 60 s longest window (TTL 180 s); the window grows to an hour (TTL 7260 s)
  r.renewed(['1|10.0.0.1'], [180_000], W);
  const longer = 7_260_000;
  assert.equal(r.due('1|10.0.0.1', W + 5_000, longer - longer / 8), true, 'it would expire on the old TTL, ~175 s from now');
  // a shorter TTL now: the hash lives longer than needed, not due before its period
  r.renewed(['1|10.0.0.2'], [longer], W);
  assert.equal(r.due('1|10.0.0.2', W + 5_000, NEED), false);
});
