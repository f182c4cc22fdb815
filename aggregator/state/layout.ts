// The bucket grid and the windows the rules read, defined once for both
// backends. A key's history is counted in sub-buckets of `bucketMs`; a window
// is a run of whole sub-buckets ending at (or `till` sub-buckets before) the
// clock's own, so it covers its span to within one sub-bucket.
import type { DetectionSettings } from '../../common/settings';
import { bucketsFor } from '../window';

/** The windows over IP-key histories; rules name them as WINDOW.x. */
export const WINDOW = Object.freeze({
  /** (T - window_seconds, T]: top_ip, error_ip */
  window: 0,
  /** (T - S, T]: failure_spike's spike window */
  spike: 1,
  /** (T - S - B, T - S]: failure_spike's baseline */
  baseline: 2,
} as const);
export type WindowId = (typeof WINDOW)[keyof typeof WINDOW];
export const WINDOW_COUNT = Object.keys(WINDOW).length;

/**
 * Per WindowId: the window as seconds before the clock T, [a, b] for
 * (T - a, T - b]. The grid follows the shortest window (a - b); history is
 * kept as far back as the furthest a.
 */
const WINDOWS: readonly ((s: DetectionSettings) => readonly [number, number])[] = [
  (s) => [s.window_seconds, 0],
  (s) => [s.spike_window_seconds, 0],
  (s) => [s.spike_window_seconds + s.spike_baseline_seconds, s.spike_window_seconds],
];

/** sub-buckets per shortest window (docs/api.md, "Definitions": at least 10) */
export const SUB_BUCKETS = 20;

export interface Layout {
  /**
   * Sub-bucket length: a twentieth of the shortest IP window. A window then
   * spans between W - W/20 and W, never more: borderline traffic is
   * under-counted rather than decoys over-counted.
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

export function layoutOf(s: DetectionSettings): Layout {
  const spans = WINDOWS.map((w) => w(s));
  const shortest = Math.min(...spans.map(([a, b]) => a - b));
  const bucketMs = Math.max(1, Math.floor((1000 * shortest) / SUB_BUCKETS));
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
