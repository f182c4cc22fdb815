import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addToHistogram,
  addToSeries,
  emptyCounts,
  pruneHistogram,
  pruneSeries,
  STRIDE,
  sumHistogram,
  sumSeries,
} from '../../aggregator/window';
import { keyOf, windowKeys, windowLevel } from '../../aggregator/state/level-grid';

const classifyAs = (failure: boolean, success: boolean, auth = false) => ({ failure, success, auth });

test('series keeps entries sorted, merges a bucket, counts failures, successes and auth failures apart from 1xx', () => {
  const s: number[] = [];
  addToSeries(s, 5, classifyAs(false, true));
  addToSeries(s, 5, classifyAs(true, false));
  addToSeries(s, 7, classifyAs(false, false)); // a 1xx: a request, neither success nor failure
  addToSeries(s, 6, classifyAs(true, false)); // late record in between
  addToSeries(s, 2, classifyAs(false, true)); // older still, goes first
  addToSeries(s, 6, classifyAs(true, false, true)); // a 401
  assert.deepEqual(s, [2, 1, 0, 1, 0, 5, 2, 1, 1, 0, 6, 2, 2, 0, 1, 7, 1, 0, 0, 0]);
  const c = sumSeries(s, 0, 7, emptyCounts());
  assert.deepEqual(c, { requests: 6, failures: 3, successes: 2, auth_failures: 1 });
});

test('a window of k buckets ending at the clock covers (c-k, c]: exactly at the edge', () => {
  const s: number[] = [];
  for (let b = 0; b < 20; b++) addToSeries(s, b, classifyAs(true, false));
  // clock in bucket 19, window of 10 buckets: buckets 10..19
  assert.equal(sumSeries(s, 19 - 10, 19, emptyCounts()).failures, 10);
  // one bucket later, bucket 10 has left
  assert.equal(sumSeries(s, 20 - 10, 20, emptyCounts()).failures, 9);
  // buckets beyond the window's end are not counted
  assert.equal(sumSeries(s, 5 - 1, 5, emptyCounts()).failures, 1);
});

test('a record exactly W ms old leaves a window of W at a sub-bucket boundary', () => {
  const W = 60_000;
  const s: number[] = [];
  const t0 = 600_000; // a sub-bucket boundary
  addToSeries(s, keyOf(1, t0 / 1000), classifyAs(true, false));
  const wl = windowLevel(W / 1000, 0);
  const inWindow = (now: number) => sumSeries(s, ...windowKeys(wl, now), emptyCounts()).failures;
  assert.equal(inWindow(t0), 1);
  assert.equal(inWindow(t0 + W - 1), 1);
  assert.equal(inWindow(t0 + W), 0); // (T-W, T] excludes ts = T-W
});

test('a clock jump of more than W empties the window without looping over the gap', () => {
  const s: number[] = [];
  addToSeries(s, 10, classifyAs(true, false));
  const far = 10 + 1e9; // a billion buckets later
  assert.equal(sumSeries(s, far - 10, far, emptyCounts()).requests, 0);
  pruneSeries(s, far - 60);
  assert.deepEqual(s, []);
});

test('pruning drops only entries older than the minimum bucket', () => {
  const s: number[] = [];
  for (const b of [1, 3, 5]) addToSeries(s, b, classifyAs(false, true));
  pruneSeries(s, 3);
  assert.deepEqual(
    s.filter((_, i) => i % STRIDE === 0),
    [3, 5],
  );
});

test('histogram: moves of a key between buckets, pruned buckets ignored', () => {
  const h: number[] = [];
  addToHistogram(h, 4, 1);
  addToHistogram(h, 4, 1);
  addToHistogram(h, 6, 1);
  addToHistogram(h, 4, -1); // a key moved from 4 ...
  addToHistogram(h, 7, 1); // ... to 7
  assert.equal(sumHistogram(h, 3, 7), 3);
  assert.equal(sumHistogram(h, 4, 7), 2);
  pruneHistogram(h, 6);
  addToHistogram(h, 4, -1); // bucket 4 is gone: no negative entry appears
  assert.deepEqual(h, [6, 1, 7, 1]);
});
