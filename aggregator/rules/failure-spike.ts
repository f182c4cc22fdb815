// Use case (d): an IP key with at least `spike_min_successes` successes in the
// baseline (T-S-B, T-S], then at least `spike_min_failures` failures in the
// spike window (T-S, T] making up >= `spike_failure_ratio` of its requests
// there. An IP that only ever failed is an error_ip, not a spike.
import type { RecordKind } from '../../common/record';
import type { DetectionSettings } from '../../common/settings';
import { WINDOW } from '../state/layout';
import { round, type IpCounts, type IpRule } from './types';

export interface FailureSpikeFinding {
  type: 'failure_spike';
  service: string;
  ip: string;
  /** failures in the spike window */
  count: number;
  /** successes in the baseline period */
  successes: number;
  ratio: number;
  since: number;
}

function holds(c: IpCounts, s: DetectionSettings): boolean {
  const spike = c.ip(WINDOW.spike);
  if (spike.failures < s.spike_min_failures || spike.requests === 0) return false;
  if (spike.failures / spike.requests < s.spike_failure_ratio) return false;
  return c.ip(WINDOW.baseline).successes >= s.spike_min_successes;
}

export const failureSpike: IpRule<FailureSpikeFinding> = {
  type: 'failure_spike',
  entity: 'ip',
  metric: { name: 'kong_siem_failure_spike', help: 'Failures in the spike window of IP keys flagged by the failure_spike rule.' },
  wakes: (k: RecordKind) => k.failure,
  serviceWindows: [],
  // enough recent failures: only fewer as the spike window slides on (the
  // baseline can still fill up from the spike window's older records)
  candidate: (c: IpCounts, s: DetectionSettings) => c.ip(WINDOW.spike).failures >= s.spike_min_failures,
  holds,
  finding(service, ip, c, _s, since) {
    const spike = c.ip(WINDOW.spike);
    const successes = c.ip(WINDOW.baseline).successes;
    return { type: 'failure_spike', service, ip, count: spike.failures, successes, ratio: round(spike.failures / spike.requests), since };
  },
};
