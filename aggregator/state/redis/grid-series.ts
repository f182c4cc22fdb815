// The Redis backend's histories on the one bucket grid (state/level-grid.ts),
// as the memory backend keeps them: a record is counted under the grid key
// the memory backend gives it (insertKey at its clock, from the service's
// finest level), so a window, the key range of its level's sub-buckets, sums
// exactly what it sums there, whatever the settings were when each record
// came. An IP key's history (and a service's totals) is one hash, fields
// <kind><key in base 36>; when it is written, entries are merged up a level
// by age and pruned to the longest window as the memory backend does at
// each record (TRIM, in the write script): the hash stays bounded whatever
// the window lengths, and a window lengthened later finds what memory finds.
import { STRIDE } from '../../window';
import { bucketAt, keyOf, LEVEL_MS, levelOfKey, mergeCut, MERGE_AFTER_MS, startOfKey, TOP } from '../level-grid';

/** A grid key as a field suffix: base 36 keeps field names short (Redis memory per key). */
export function keyField(key: number): string {
  let f = fieldKept.get(key);
  if (f === undefined) {
    if (fieldKept.size >= 4096) fieldKept.clear();
    fieldKept.set(key, (f = key.toString(36)));
  }
  return f;
}
/** keyField per key (a batch's records share a few grid keys; bounded, cleared when full) */
const fieldKept = new Map<number, string>();

/** requests, failures, neither (answers neither failure nor success), auth failures of one entry as stored */
export type StoredCounts = [number, number, number, number];
const AT: Readonly<Record<string, number>> = { r: 0, f: 1, n: 2, a: 3 };

/** Hash fields (flat [field, value, ...]) as a window.ts series [key, r, f, s, a], ascending by key; other fields skipped. */
export function seriesOfFields(flat: readonly (string | number | null)[]): number[] {
  const byKey = new Map<number, StoredCounts>();
  for (let j = 0; j + 1 < flat.length; j += 2) {
    const f = String(flat[j]);
    const at = AT[f.charAt(0)];
    if (at === undefined) continue;
    const key = Number.parseInt(f.slice(1), 36);
    if (!Number.isFinite(key)) continue;
    let c = byKey.get(key);
    if (!c) byKey.set(key, (c = [0, 0, 0, 0]));
    c[at] = Number(flat[j + 1]);
  }
  return seriesOf(byKey);
}

/** Stored counts by key as a series [key, r, f, s, a] (s = r - f - n), ascending. */
export function seriesOf(byKey: ReadonlyMap<number, StoredCounts>): number[] {
  const keys = [...byKey.keys()].sort((a, b) => a - b);
  const out = new Array<number>(keys.length * STRIDE);
  keys.forEach((k, i) => {
    const c = byKey.get(k) as StoredCounts;
    out[i * STRIDE] = k;
    out[i * STRIDE + 1] = c[0];
    out[i * STRIDE + 2] = c[1];
    out[i * STRIDE + 3] = c[0] - c[1] - c[2];
    out[i * STRIDE + 4] = c[3];
  });
  return out;
}

/** The oldest key any window reads (layout.ts oldestKey) from ranges already computed. */
export function oldestOf(ranges: Float64Array): number {
  let min = Number.POSITIVE_INFINITY;
  for (let w = 0; w < ranges.length; w += 2) min = Math.min(min, (ranges[w] as number) + 1);
  return min;
}

/** The merge cuts of every level below the top at clock `now` (level-grid.ts mergeCut). */
export function cutsAt(now: number): readonly number[] {
  let c = cutsKept.get(now);
  if (c === undefined) {
    if (cutsKept.size >= 1024) cutsKept.clear();
    cutsKept.set(now, (c = MERGE_AFTER_MS.map((_, j) => mergeCut(j, now))));
  }
  return c;
}
/** cutsAt per clock (a batch's keys come in no clock order; bounded, cleared when full) */
const cutsKept = new Map<number, readonly number[]>();

/**
 * Whether TRIM at the clock of `cuts` (cutsAt) with oldest key `oldest` changes `series`: an
 * entry below the oldest key any window reads, or one its level's merge is
 * due for. Most writes: no (the oldest entry is recent).
 */
export function trimDue(series: readonly number[], cuts: readonly number[], oldest: number): boolean {
  if (series.length === 0) return false;
  const first = series[0] as number;
  if (first < oldest) return true;
  const cut0 = cuts[0] as number;
  if (first >= cut0) return false;
  for (let i = 0; i < series.length; i += STRIDE) {
    const k = series[i] as number;
    if (k >= cut0) break;
    const j = levelOfKey(k);
    if (j < TOP && k < (cuts[j] as number)) return true;
  }
  return false;
}

/**
 * Where an entry at `key` ends up once merged at the clock of `cuts` (level
 * by level, as mergeSeries moves it): what TRIM would make of it. A batch's
 * own entries are written there at once, and not at all when that is below
 * the oldest key any window reads (a replay's batch spans minutes: most of
 * its entries would otherwise be written, then moved or dropped).
 */
export function finalKey(key: number, cuts: readonly number[]): number {
  let k = key;
  for (let j = levelOfKey(k); j < TOP && k < (cuts[j] as number); j++) k = keyOf(j + 1, bucketAt(k, j + 1));
  return k;
}

/**
 * What a due trim of `series` at the clock of `cuts` takes: undefined when some entry
 * merges up (the script's TRIM, which reads the hash), else the grid keys to
 * drop (below the oldest key): deleted by name, the hash not read. At the
 * defaults nothing merges before it is dropped, so busy keys take this way.
 */
export function dropOnly(series: readonly number[], cuts: readonly number[], oldest: number): number[] | undefined {
  const drop: number[] = [];
  for (let i = 0; i < series.length; i += STRIDE) {
    const k = series[i] as number;
    const f = finalKey(k, cuts);
    if (f < oldest) drop.push(k);
    else if (f !== k) return undefined;
  }
  return drop;
}

/** The fields of grid entries `keys` (every count kind). */
export const fieldsOf = (keys: readonly number[]): string[] =>
  keys.flatMap((k) => {
    const f = keyField(k);
    return [`r${f}`, `f${f}`, `n${f}`, `a${f}`];
  });

/**
 * Lua: trim(key, now, oldest): every entry of the hash merged up the levels
 * its age has passed (level-grid.ts mergeSeries, entry by entry) and dropped
 * when it then lies below `oldest` (the memory backend merges, then prunes).
 * Works on the hash as it is, so two aggregators trimming one key at once
 * move each entry once. Returns whether anything changed.
 */
export const TRIM_LUA = `
local LEVEL_MS = {${LEVEL_MS.join(', ')}}
local MERGE_AFTER = {${MERGE_AFTER_MS.join(', ')}}
local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function b36(n)
  local s = ''
  repeat
    local d = n % 36
    s = string.sub(DIGITS, d + 1, d + 1) .. s
    n = (n - d) / 36
  until n == 0
  return s
end
local function trim(key, now, oldest)
  local cuts = {}
  for j = 0, ${TOP - 1} do
    local next = LEVEL_MS[j + 2]
    cuts[j] = math.floor((now - MERGE_AFTER[j + 1]) / next) * (next / 100) * 8
  end
  local h = redis.call('HGETALL', key)
  local del, add = {}, {}
  for x = 1, #h, 2 do
    local f = h[x]
    local k = tonumber(string.sub(f, 2), 36)
    if k then
      local j, to = k % 8, k
      while j < ${TOP} and to < cuts[j] do
        local ratio = LEVEL_MS[j + 2] / 100
        to = math.floor(math.floor(to / 8) / ratio) * ratio * 8 + j + 1
        j = j + 1
      end
      if to < oldest then
        del[#del + 1] = f
      elseif to ~= k then
        del[#del + 1] = f
        local nf = string.sub(f, 1, 1) .. b36(to)
        add[nf] = (add[nf] or 0) + tonumber(h[x + 1])
      end
    end
  end
  if #del == 0 then return false end
  for i = 1, #del, 1000 do redis.call('HDEL', key, unpack(del, i, math.min(i + 999, #del))) end
  for nf, v in pairs(add) do redis.call('HINCRBY', key, nf, v) end
  return true
end
`;

/** The window's span in ms [start, end) from its key range (from, to]: unique IPs count newest ts in it. */
export function rangeMs(from: number, to: number): [number, number] {
  return [startOfKey(from + 1), startOfKey(to + 1)];
}
