// Sliding windows made of sub-buckets, stored sparsely.
//
// A key's history is a flat number array of entries
// [key, requests, failures, successes, auth failures], ascending by key (the
// one bucket grid's keys, state/level-grid.ts). Only sub-buckets that saw
// traffic hold an entry, so the many IPs that send one or two requests cost
// a few numbers. A window is a key range (from, to]: sumSeries.

import type { RecordKind } from '../common/record';

export const STRIDE = 5;
const REQ = 1;
const FAIL = 2;
const SUCC = 3;
const AUTH = 4;

/** Sums of one range of buckets. Reused by callers to avoid allocation. */
export interface Counts {
  requests: number;
  failures: number;
  successes: number;
  /** failed authentications: 401/403 answers, or failures the plugin decided on a success status (common/record.ts) */
  auth_failures: number;
}

export function emptyCounts(): Counts {
  return { requests: 0, failures: 0, successes: 0, auth_failures: 0 };
}

/** Add one request to `series` in `bucket`; keeps entries sorted. */
export function addToSeries(series: number[], bucket: number, k: RecordKind): void {
  let i = series.length - STRIDE;
  // Records arrive nearly in order: the target is the last entry or near it.
  while (i >= 0 && (series[i] as number) > bucket) i -= STRIDE;
  if (i >= 0 && series[i] === bucket) {
    series[i + REQ] = (series[i + REQ] as number) + 1;
    if (k.failure) series[i + FAIL] = (series[i + FAIL] as number) + 1;
    if (k.success) series[i + SUCC] = (series[i + SUCC] as number) + 1;
    if (k.auth) series[i + AUTH] = (series[i + AUTH] as number) + 1;
    return;
  }
  const entry = [bucket, 1, k.failure ? 1 : 0, k.success ? 1 : 0, k.auth ? 1 : 0];
  if (i + STRIDE === series.length) series.push(...entry);
  else series.splice(i + STRIDE, 0, ...entry);
}

/** Add whole counts to one bucket (restoring totals from a snapshot). */
export function addCountsToSeries(
  series: number[],
  bucket: number,
  requests: number,
  failures: number,
  successes: number,
  authFailures = 0,
): void {
  let i = series.length - STRIDE;
  while (i >= 0 && (series[i] as number) > bucket) i -= STRIDE;
  if (i >= 0 && series[i] === bucket) {
    series[i + REQ] = (series[i + REQ] as number) + requests;
    series[i + FAIL] = (series[i + FAIL] as number) + failures;
    series[i + SUCC] = (series[i + SUCC] as number) + successes;
    series[i + AUTH] = (series[i + AUTH] as number) + authFailures;
    return;
  }
  series.splice(i + STRIDE, 0, bucket, requests, failures, successes, authFailures);
}

/** Drop entries older than `minBucket` (exclusive bound: keeps bucket >= minBucket). */
export function pruneSeries(series: number[], minBucket: number): void {
  let n = 0;
  while (n < series.length && (series[n] as number) < minBucket) n += STRIDE;
  if (n > 0) series.splice(0, n);
}

/**
 * Sum the entries with fromBucket < bucket <= toBucket into `out`.
 * Walks back from the newest entry, so recent windows cost only their own
 * buckets however long the history is.
 */
export function sumSeries(series: readonly number[], fromBucket: number, toBucket: number, out: Counts): Counts {
  out.requests = 0;
  out.failures = 0;
  out.successes = 0;
  out.auth_failures = 0;
  for (let i = series.length - STRIDE; i >= 0; i -= STRIDE) {
    const b = series[i] as number;
    if (b <= fromBucket) break;
    if (b > toBucket) continue;
    out.requests += series[i + REQ] as number;
    out.failures += series[i + FAIL] as number;
    out.successes += series[i + SUCC] as number;
    out.auth_failures += series[i + AUTH] as number;
  }
  return out;
}

/** Add `delta` to the count of `bucket` in a [bucket, count] series (sorted). */
export function addToHistogram(hist: number[], bucket: number, delta: number): void {
  let i = hist.length - 2;
  while (i >= 0 && (hist[i] as number) > bucket) i -= 2;
  if (i >= 0 && hist[i] === bucket) {
    hist[i + 1] = (hist[i + 1] as number) + delta;
    return;
  }
  if (delta <= 0) return; // nothing recorded there: the bucket was pruned
  if (i + 2 === hist.length) hist.push(bucket, delta);
  else hist.splice(i + 2, 0, bucket, delta);
}

export function pruneHistogram(hist: number[], minBucket: number): void {
  let n = 0;
  while (n < hist.length && (hist[n] as number) < minBucket) n += 2;
  if (n > 0) hist.splice(0, n);
}

export function sumHistogram(hist: readonly number[], fromBucket: number, toBucket: number): number {
  let total = 0;
  for (let i = hist.length - 2; i >= 0; i -= 2) {
    const b = hist[i] as number;
    if (b <= fromBucket) break;
    if (b <= toBucket) total += hist[i + 1] as number;
  }
  return total;
}
