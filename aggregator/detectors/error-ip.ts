// Use case (b): an IP key with at least `error_min` failures in the window
// and a failure ratio >= `error_ratio` (failures / all its requests there).
import type { DetectionSettings } from '../../common/settings';
import type { Counts } from '../window';

export interface ErrorIpResult {
  count: number;
  ratio: number;
}

/** Necessary condition that only weakens as time passes: enough failures. */
export function errorIpCandidate(window: Counts, s: DetectionSettings): boolean {
  return window.failures >= s.error_min;
}

export function errorIp(window: Counts, s: DetectionSettings): ErrorIpResult | undefined {
  if (window.failures < s.error_min || window.requests === 0) return undefined;
  const ratio = window.failures / window.requests;
  return ratio >= s.error_ratio ? { count: window.failures, ratio } : undefined;
}
