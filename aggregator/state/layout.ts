// The bucket grid and the windows the rules read, defined once for both
// backends. A key's history is counted in sub-buckets of `bucketMs`; a window
// is a run of whole sub-buckets ending at (or `till` sub-buckets before) the
// clock's own, so it covers its span to within one sub-bucket.
import type { DetectionSettings } from '../../common/settings';
import { bucketsFor } from '../window';
import { windowFrom, windowLevel, type WindowLevel } from './level-grid';

/** The windows over IP-key histories; rules name them as WINDOW.x. */
export const WINDOW = Object.freeze({
  /** (T - window_seconds, T]: top_ip, error_ip */
  window: 0,
  /** (T - S, T]: failure_spike's spike window */
  spike: 1,
  /** (T - S - B, T - S]: failure_spike's baseline */
  baseline: 2,
  /** (T - error_burst_seconds, T]: error_ip's short window */
  burst: 3,
  /** (T - auth_fail_window_seconds, T]: auth_bruteforce */
  auth: 4,
} as const);
export type WindowId = (typeof WINDOW)[keyof typeof WINDOW];
export const WINDOW_COUNT = Object.keys(WINDOW).length;

/**
 * Sub-buckets per window at least (docs/api.md, "Definitions": at least 10).
 * Twenty for the rule windows; ten for error_ip's burst window, the shortest
 * by design (10 s by default): a twentieth of it made the grid 500 ms, six
 * times finer than the 3 s the other defaults need, and a busy IP key's
 * ingest cost and history grow with the sub-buckets its windows span
 * (figures in docs/engine.md). A tenth keeps the grid at 1 s.
 */
const FINE = 20;
const BURST = 10;

/**
 * Per WindowId: the window as seconds before the clock T, [a, b] for
 * (T - a, T - b], and its sub-buckets at least. The grid follows the
 * windows' lengths (a - b); history is kept as far back as the furthest a.
 */
const WINDOWS: readonly { span: (s: DetectionSettings) => readonly [number, number]; sub: number }[] = [
  { span: (s) => [s.window_seconds, 0], sub: FINE },
  { span: (s) => [s.spike_window_seconds, 0], sub: FINE },
  { span: (s) => [s.spike_window_seconds + s.spike_baseline_seconds, s.spike_window_seconds], sub: FINE },
  { span: (s) => [s.error_burst_seconds, 0], sub: BURST },
  { span: (s) => [s.auth_fail_window_seconds, 0], sub: FINE },
];

export interface Layout {
  /**
   * Sub-bucket length: the largest that gives every window its sub-buckets
   * (a twentieth of the shortest rule window, a tenth of the burst window).
   * A window then spans between W - W/10 (W - W/20 for the rule windows) and
   * W, never more: borderline traffic is under-counted rather than decoys
   * over-counted.
   */
  readonly bucketMs: number;
  /** longest span of history any rule reads, ms: older keys expire, older records are late */
  readonly longestMs: number;
  /** sub-buckets an IP history keeps (the furthest any window reaches back) */
  readonly span: number;
  /** per WindowId: window = buckets (c - back, c - till] */
  readonly back: readonly number[];
  readonly till: readonly number[];
}

/** The sub-bucket length `s` asks for: the largest giving every window its sub-buckets, ms. */
export function naturalBucketMs(s: DetectionSettings): number {
  return Math.max(
    1,
    Math.floor(Math.min(...windowSpans(s).map(([a, b], i) => (1000 * (a - b)) / (WINDOWS[i] as (typeof WINDOWS)[number]).sub))),
  );
}

/** The longest sub-bucket that still counts every window of `s` to within a tenth of it (the contract's tolerance), ms. */
export function toleratedBucketMs(s: DetectionSettings): number {
  return Math.max(1, Math.floor(Math.min(...windowSpans(s).map(([a, b]) => (1000 * (a - b)) / BURST))));
}

/** The layout of `s` on sub-buckets of `bucketMs` (by default its natural one; state/grid.ts may keep another). */
export function layoutOf(s: DetectionSettings, bucketMs = naturalBucketMs(s)): Layout {
  const spans = windowSpans(s);
  const k = (seconds: number) => (seconds > 0 ? bucketsFor(seconds * 1000, bucketMs) : 0);
  // a window ending b before T: k(b) buckets back, then its own length
  const till = spans.map(([, b]) => k(b));
  const back = spans.map(([a, b], i) => (till[i] as number) + k(a - b));
  return {
    bucketMs,
    longestMs: 1000 * Math.max(s.credential_window_seconds, ...spans.map(([a]) => a)),
    span: Math.max(...back),
    back,
    till,
  };
}

/** Per WindowId: the window as seconds before the clock T, [a, b] for (T - a, T - b]. */
export function windowSpans(s: DetectionSettings): (readonly [number, number])[] {
  return WINDOWS.map((w) => w.span(s));
}

/** The windows of `s` on the one grid (level-grid.ts): per WindowId, its level and sub-buckets. */
export interface GridLayout {
  readonly windows: readonly WindowLevel[];
  /** longest span of history any rule reads, ms: older keys expire, older records are late */
  readonly longestMs: number;
}

export function gridLayoutOf(s: DetectionSettings): GridLayout {
  const spans = windowSpans(s);
  return {
    windows: spans.map(([a, b]) => windowLevel(a, b)),
    longestMs: 1000 * Math.max(s.credential_window_seconds, ...spans.map(([a]) => a)),
  };
}

/** The oldest key any window of `L` reads at clock `now`: older entries can go. */
export function oldestKey(L: GridLayout, now: number): number {
  let min = Number.POSITIVE_INFINITY;
  for (const wl of L.windows) min = Math.min(min, windowFrom(wl, now) + 1);
  return min;
}
