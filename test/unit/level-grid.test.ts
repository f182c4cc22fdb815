// The one bucket grid (aggregator/state/level-grid.ts): the same for every
// settings, windows summing a bounded number of sub-buckets, merges that
// never change what a window reads, and the defaults on the 1 s grid they
// had before (so a service on the defaults counts as it did).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bucketAt,
  insertKey,
  keyOf,
  LEVEL_MS,
  levelOfKey,
  mergeSeries,
  startOfKey,
  TOP,
  windowKeys,
  windowLevel,
} from '../../aggregator/state/level-grid';
import { windowSpans } from '../../aggregator/state/layout';
import { DEFAULT_SETTINGS } from '../../common/settings';

const NOW = 1_717_000_000_000;

test('a key holds its level and sub-bucket start, and sorts by start', () => {
  for (let j = 0; j <= TOP; j++) {
    const n = Math.floor(NOW / (LEVEL_MS[j] as number));
    const k = keyOf(j, n);
    assert.equal(levelOfKey(k), j);
    assert.equal(startOfKey(k), n * (LEVEL_MS[j] as number));
    assert.equal(bucketAt(k, j), n);
    for (let up = j; up <= TOP; up++) assert.equal(bucketAt(k, up), Math.floor((n * (LEVEL_MS[j] as number)) / (LEVEL_MS[up] as number)));
  }
  assert.ok(keyOf(0, 10) < keyOf(0, 11) && keyOf(1, 1) < keyOf(0, 11), 'by start first');
  // a record goes to the finest level its age allows, from the service's finest up
  assert.equal(levelOfKey(insertKey(NOW - 500, NOW)), 0);
  assert.equal(levelOfKey(insertKey(NOW - 500, NOW, 1)), 1);
  assert.equal(levelOfKey(insertKey(NOW - 60_000, NOW)), 1);
  assert.equal(levelOfKey(insertKey(NOW - 3_600_000, NOW)), 2);
});

test('the default settings read 1 s sub-buckets, the same windows as the one-length grid they had', () => {
  // that grid's 1 s layout at the defaults: per window (c - back, c - till]
  const old = { back: [60, 60, 360, 10, 60], till: [0, 0, 60, 0, 0] };
  windowSpans(DEFAULT_SETTINGS).forEach(([a, b], w) => {
    assert.deepEqual(windowLevel(a, b), { level: 1, back: old.back[w], till: old.till[w] }, `window ${w}`);
  });
});

test('every window the settings allow sums at most 400 sub-buckets, within a tenth of its length when it ends at the clock', () => {
  const seconds = [
    1, 2, 5, 9, 10, 11, 12, 15, 30, 59, 60, 61, 120, 300, 360, 399, 400, 401, 900, 3600, 3990, 4000, 7200, 39_900, 40_000, 86_400,
  ];
  for (const a of seconds) {
    const wl = windowLevel(a, 0);
    assert.ok(wl.back <= 400, `(${a}, 0]: ${wl.back} sub-buckets`);
    assert.ok((LEVEL_MS[wl.level] as number) <= (a * 1000) / 10, `(${a}, 0]: level ${wl.level} is over a tenth`);
    for (const b of seconds) {
      const far = windowLevel(a + b, b);
      assert.ok(far.back - far.till <= 400 && far.back <= 400 + 1, `(${a + b}, ${b}]: ${far.back - far.till} sub-buckets`);
    }
  }
  // the extreme: window_seconds 1 reads 0.1 s sub-buckets, the 86,400 s baseline 1000 s ones
  assert.deepEqual(windowLevel(1, 0), { level: 0, back: 10, till: 0 });
  assert.equal(windowLevel(86_401, 1).level, TOP);
});

/** A [key, count] series (stride 2), as window.ts keeps them. */
function add(series: number[], key: number): void {
  let i = series.length - 2;
  while (i >= 0 && (series[i] as number) > key) i -= 2;
  if (i >= 0 && series[i] === key) series[i + 1] = (series[i + 1] as number) + 1;
  else series.splice(i + 2, 0, key, 1);
}

function sum(series: readonly number[], [from, to]: [number, number]): number {
  let n = 0;
  for (let i = 0; i < series.length; i += 2) if ((series[i] as number) > from && (series[i] as number) <= to) n += series[i + 1] as number;
  return n;
}

/** LCG: the same stream every run */
function rng(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}

test('merging as the clock goes keeps every window count exact to its level, with or without a merge at the reading clock', () => {
  const rand = rng(7);
  const spans: [number, number][] = [
    [1, 0],
    [10, 0],
    [60, 0],
    [30, 0],
    [360, 60],
    [86_401, 1],
    [3_600, 0],
    [7_200, 3_600],
    [172_800, 86_400],
  ];
  const series: number[] = [];
  const records: number[] = [];
  let now = NOW;
  for (let step = 0; step < 4000; step++) {
    now += Math.floor(rand() * (step % 500 === 0 ? 3_600_000 : 20_000));
    for (let k = Math.floor(rand() * 4); k > 0; k--) {
      // mostly recent, some late (up to a day and a half back)
      const age = rand() < 0.9 ? Math.floor(rand() * 15_000) : Math.floor(rand() * 130_000_000);
      const ts = now - age;
      records.push(ts);
      add(series, insertKey(ts, now));
      mergeSeries(series, now, 2);
    }
    if (step % 97 !== 0) continue;
    for (const at of [now, now + Math.floor(rand() * 5_000)]) {
      for (const [a, b] of spans) {
        const wl = windowLevel(a, b);
        const w = LEVEL_MS[wl.level] as number;
        const c = Math.floor(at / w);
        const want = records.filter((ts) => {
          const n = Math.floor(ts / w);
          return n > c - wl.back && n <= c - wl.till;
        }).length;
        assert.equal(sum(series, windowKeys(wl, at)), want, `(T - ${a}, T - ${b}] at step ${step}`);
      }
    }
  }
  for (let i = 2; i < series.length; i += 2) assert.ok((series[i] as number) > (series[i - 2] as number), 'keys ascending, no duplicates');
  assert.equal(sum(series, [-Infinity, Infinity]), records.length, 'no record lost by merging');
});

test('a key busy for two days holds a bounded history: fine recent sub-buckets, coarse old ones', () => {
  const series: number[] = [];
  let now = NOW;
  for (let i = 0; i < 200_000; i++) {
    now += 900;
    add(series, insertKey(now, now));
    mergeSeries(series, now, 2);
  }
  const perLevel = Array.from({ length: TOP + 1 }, () => 0);
  for (let i = 0; i < series.length; i += 2)
    perLevel[levelOfKey(series[i] as number)] = (perLevel[levelOfKey(series[i] as number)] as number) + 1;
  assert.ok(series.length / 2 <= 1500, `${series.length / 2} entries`);
  // a record every 0.9 s (50 h): ~13 s on 0.1 s, ~400 s on 1 s, ~3,600 s on 10 s, ~36,000 s on 100 s, the rest on 1000 s
  assert.deepEqual(
    perLevel.map((n, j) => n >= [12, 380, 355, 355, 0][j]! && n <= [16, 415, 375, 375, 145][j]!),
    perLevel.map(() => true),
    perLevel.join(' '),
  );
  assert.equal(sum(series, [-Infinity, Infinity]), 200_000);
});
