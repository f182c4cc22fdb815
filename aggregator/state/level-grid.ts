// One bucket grid for every service, whatever its settings (issue 13.1): a
// settings change keeps every history, and a window always sums a bounded
// number of sub-buckets, so ingest costs the same per record whatever the
// window lengths.
//
// The grid has LEVELS of sub-buckets, each ten times wider than the one
// below (0.1 s, 1 s, 10 s, 100 s, 1000 s), aligned on the epoch so a
// sub-bucket of one level is exactly ten of the level below. A record goes
// into the finest level its age allows; an entry of level j merges into
// level j + 1 once its level-(j + 1) sub-bucket ended MERGE_AFTER_MS[j]
// before the clock (so recent history is fine and old history coarse, with
// at most ~400 sub-buckets per level: a key's history is bounded whatever
// the windows). A window reads the sub-buckets of one level (WindowLevel):
// 1 s unless a window shorter than 10 s needs 0.1 s, and coarser when its
// far edge is older than that level keeps. Merges never touch what a
// window of that level reads: sums are exact to the level's sub-bucket.
//
// Entries are stored as keys: key = start / UNIT * TAG + level (start: the
// sub-bucket's first ms). Keys sort by start, so a window is the key range
// of its level's sub-buckets, summed with window.ts as before, and an entry
// of a finer level falls in the sub-bucket of the coarser level holding it.
import { STRIDE } from '../window';

/** sub-bucket length of each level, ms */
export const LEVEL_MS: readonly number[] = [100, 1_000, 10_000, 100_000, 1_000_000];
export const TOP = LEVEL_MS.length - 1;
/** ms of the finest level: keys count in these */
const UNIT = 100;
/** level-j sub-buckets in UNIT */
const RATIO = LEVEL_MS.map((w) => w / UNIT);
/** keys per UNIT: the level is the key's low bits */
const TAG = 8;
/**
 * Per level below the top: an entry merges into the next level once its
 * next-level sub-bucket ended this long before the clock. Level 0 keeps ~12 s
 * (120 entries at most), level 1 ~400 s (the defaults' longest reach, 360 s,
 * stays on 1 s), each next one ten times more.
 */
export const MERGE_AFTER_MS: readonly number[] = [12_000, 400_000, 4_000_000, 40_000_000];
/** the finest level a window may use only when it is shorter than 10 of the next level's sub-buckets */
const DEFAULT_LEVEL = 1;

export const keyOf = (level: number, bucket: number): number => bucket * (RATIO[level] as number) * TAG + level;
export const levelOfKey = (key: number): number => key % TAG;
export const startOfKey = (key: number): number => Math.floor(key / TAG) * UNIT;
/** the level-k sub-bucket holding the entry of `key` (of level k or finer) */
export const bucketAt = (key: number, k: number): number => Math.floor(Math.floor(key / TAG) / (RATIO[k] as number));

/** The oldest level-j entry may start at this key (older ones merge into level j + 1), at clock `now`. */
export function mergeCut(j: number, now: number): number {
  const next = LEVEL_MS[j + 1] as number;
  return Math.floor((now - (MERGE_AFTER_MS[j] as number)) / next) * (RATIO[j + 1] as number) * TAG;
}

/** per level below the top: keys per next-level sub-bucket, and that sub-bucket's length (mergeDueAt) */
const DUE_SPAN = RATIO.slice(1).map((r) => r * TAG);
const DUE_MS = LEVEL_MS.slice(1);

/**
 * The clock from which the entry of `key` may be due to merge (key < mergeCut
 * of its level); before it, it is not. Entries of the top level never merge.
 * A millisecond early, so a clock between integers never finds it late.
 */
export function mergeDueAt(key: number): number {
  const j = key % TAG;
  if (j >= TOP) return Number.POSITIVE_INFINITY;
  // mergeCut(j, now) > key once floor((now - MERGE_AFTER_MS[j]) / DUE_MS[j]) reaches q
  const q = Math.floor(key / (DUE_SPAN[j] as number)) + 1;
  return q * (DUE_MS[j] as number) + (MERGE_AFTER_MS[j] as number) - 1;
}

/** The earliest mergeDueAt of a series' entries (`stride` numbers each, the key first). */
export function seriesDueAt(series: readonly number[], stride = STRIDE): number {
  let due = Number.POSITIVE_INFINITY;
  for (let i = 0; i < series.length; i += stride) {
    const d = mergeDueAt(series[i] as number);
    if (d < due) due = d;
  }
  return due;
}

/**
 * The key a record at `ts` goes under at clock `now`: the finest level not
 * already merged at its age, from level `finest` up. A service whose windows
 * all read 1 s or coarser sub-buckets writes no 0.1 s entries (finest 1:
 * level 0 would only split its keys' recent records into more entries); a
 * change to a window under 10 s starts writing them, and until its 12 s
 * fill, entries of 1 s older than the change are counted whole by it.
 */
export function insertKey(ts: number, now: number, finest = 0): number {
  for (let j = finest; j < TOP; j++) {
    const key = keyOf(j, Math.floor(ts / (LEVEL_MS[j] as number)));
    if (key >= mergeCut(j, now)) return key;
  }
  return keyOf(TOP, Math.floor(ts / (LEVEL_MS[TOP] as number)));
}

/** The entry's key one level up. */
const upKey = (key: number, j: number): number => keyOf(j + 1, bucketAt(key, j + 1));

/**
 * Merge a window.ts-style series (entries of `stride` numbers, the key first,
 * ascending) to the grid at clock `now`: level-j entries below level j's cut
 * move up a level, entries landing on one key adding up. Each entry moves at
 * most once per level, so the work is amortized over the records. Returns
 * whether anything moved.
 */
export function mergeSeries(series: number[], now: number, stride = STRIDE): boolean {
  // every cut is at or below level 0's: nothing older than it, nothing to merge (most records)
  if (series.length === 0 || (series[0] as number) >= mergeCut(0, now)) return false;
  let moved = false;
  for (let j = 0; j < TOP; j++) {
    const cut = mergeCut(j, now);
    // entries of level <= j below the cut sit just before the first key >= cut
    let hi = firstAtOrAbove(series, cut, stride);
    let i = hi - stride;
    if (i < 0 || levelOfKey(series[i] as number) > j) continue;
    while (i >= 0 && levelOfKey(series[i] as number) <= j) i -= stride;
    // entries (i, hi) move up: same order, equal keys summed
    let out = i + stride;
    for (let r = i + stride; r < hi; r += stride) {
      const key = upKey(series[r] as number, j);
      if (out > i + stride && series[out - stride] === key) {
        for (let f = 1; f < stride; f++) series[out - stride + f] = (series[out - stride + f] as number) + (series[r + f] as number);
      } else {
        // an entry of level j + 1 already there (written late) is just before the run
        if (out === i + stride && i >= 0 && series[i] === key) {
          for (let f = 1; f < stride; f++) series[i + f] = (series[i + f] as number) + (series[r + f] as number);
          continue;
        }
        series[out] = key;
        for (let f = 1; f < stride; f++) series[out + f] = series[r + f] as number;
        out += stride;
      }
    }
    if (out < hi) {
      series.splice(out, hi - out);
      hi = out;
    }
    moved = true;
  }
  return moved;
}

/** Index of the first entry whose key is >= `key` (binary search; series.length when none). */
function firstAtOrAbove(series: readonly number[], key: number, stride: number): number {
  let lo = 0;
  let hi = series.length / stride;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((series[mid * stride] as number) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo * stride;
}

/**
 * A window (T - a, T - b] on the grid, a and b in seconds: the level whose
 * sub-buckets it sums and how many, counted back from the clock's own
 * (sub-buckets (c - back, c - till] of that level, as layout.ts had on one
 * length). 1 s sub-buckets unless the window is shorter than 10 s (then
 * 0.1 s); a coarser level when the far edge is older than the level keeps.
 */
export interface WindowLevel {
  level: number;
  back: number;
  till: number;
}

export function windowLevel(a: number, b: number): WindowLevel {
  const aMs = a * 1000;
  const lengthMs = (a - b) * 1000;
  let level = lengthMs < 10 * (LEVEL_MS[DEFAULT_LEVEL] as number) ? 0 : DEFAULT_LEVEL;
  // the far edge must be younger than what the level keeps (it is never merged from under the window)
  while (level < TOP && aMs > (MERGE_AFTER_MS[level] as number) - (LEVEL_MS[level] as number)) level++;
  const w = LEVEL_MS[level] as number;
  const till = b > 0 ? Math.ceil((b * 1000) / w) : 0;
  return { level, till, back: till + Math.max(1, Math.ceil(lengthMs / w)) };
}

/**
 * The key range (from, to] of window `wl` at clock `now`, for window.ts's
 * sumSeries: every entry (of that level or finer) in its sub-buckets.
 */
export function windowKeys(wl: WindowLevel, now: number): [from: number, to: number] {
  return [windowFrom(wl, now), windowTo(wl, now)];
}

/** The window's key range starts after this key (windowKeys without an array: ingest allocates nothing). */
export function windowFrom(wl: WindowLevel, now: number): number {
  return (Math.floor(now / (LEVEL_MS[wl.level] as number)) - wl.back + 1) * (RATIO[wl.level] as number) * TAG - 1;
}

/** The window's key range ends with this key. */
export function windowTo(wl: WindowLevel, now: number): number {
  return (Math.floor(now / (LEVEL_MS[wl.level] as number)) - wl.till + 1) * (RATIO[wl.level] as number) * TAG - 1;
}

/**
 * Decrement the [key, count] histogram entry holding time `ts` (the
 * histogram merged to the grid at the clock: entries then cover disjoint
 * spans). Nothing when it was pruned.
 */
export function histogramRemove(hist: number[], ts: number): void {
  // the last entry starting at or before ts (binary search: a service's histogram holds hundreds)
  let lo = 0;
  let hi = hist.length / 2;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (startOfKey(hist[mid * 2] as number) <= ts) lo = mid + 1;
    else hi = mid;
  }
  const i = (lo - 1) * 2;
  if (i < 0) return;
  const key = hist[i] as number;
  if (ts >= startOfKey(key) + (LEVEL_MS[levelOfKey(key)] as number)) return; // not held: pruned
  if ((hist[i + 1] as number) > 1) hist[i + 1] = (hist[i + 1] as number) - 1;
  else hist.splice(i, 2);
}
