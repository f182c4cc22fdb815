// Use case (d): an IP key with at least `spike_min_successes` successes in the
// baseline (T-S-B, T-S], then at least `spike_min_failures` failures in the
// spike window (T-S, T] making up >= `spike_failure_ratio` of its requests
// there. An IP that only ever failed is an error_ip, not a spike.
import type { DetectionSettings } from '../../common/settings';
import type { Counts } from '../window';

export interface FailureSpikeResult {
  count: number;
  successes: number;
  ratio: number;
}

/** Necessary condition that only weakens as time passes: enough recent failures. */
export function failureSpikeCandidate(spike: Counts, s: DetectionSettings): boolean {
  return spike.failures >= s.spike_min_failures;
}

export function failureSpike(baseline: Counts, spike: Counts, s: DetectionSettings): FailureSpikeResult | undefined {
  if (spike.failures < s.spike_min_failures || baseline.successes < s.spike_min_successes || spike.requests === 0) {
    return undefined;
  }
  const ratio = spike.failures / spike.requests;
  return ratio >= s.spike_failure_ratio ? { count: spike.failures, successes: baseline.successes, ratio } : undefined;
}
