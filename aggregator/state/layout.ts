// The windows the rules read, defined once for both backends, on the one
// bucket grid (level-grid.ts): per window its level and the run of that
// level's sub-buckets ending at (or `till` sub-buckets before) the clock's
// own, so it covers its span to within one sub-bucket.
import type { DetectionSettings } from '../../common/settings';
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

/** Per WindowId: the window as seconds before the clock T, [a, b] for (T - a, T - b]. */
const WINDOWS: readonly ((s: DetectionSettings) => readonly [number, number])[] = [
  (s) => [s.window_seconds, 0],
  (s) => [s.spike_window_seconds, 0],
  (s) => [s.spike_window_seconds + s.spike_baseline_seconds, s.spike_window_seconds],
  (s) => [s.error_burst_seconds, 0],
  (s) => [s.auth_fail_window_seconds, 0],
];

/** Per WindowId: the window as seconds before the clock T, [a, b] for (T - a, T - b]. */
export function windowSpans(s: DetectionSettings): (readonly [number, number])[] {
  return WINDOWS.map((span) => span(s));
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
