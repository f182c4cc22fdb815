// Use case (b): an IP key with at least `error_min` failures in the window
// and a failure ratio >= `error_ratio` (failures / all its requests there).
import type { RecordKind } from '../../common/record';
import type { DetectionSettings } from '../../common/settings';
import { WINDOW } from '../state/layout';
import type { Counts } from '../window';
import { round, type IpCounts, type IpRule } from './types';

export interface ErrorIpFinding {
  type: 'error_ip';
  service: string;
  ip: string;
  /** failures in the window */
  count: number;
  ratio: number;
  since: number;
}

function fires(w: Readonly<Counts>, s: DetectionSettings): boolean {
  return w.failures >= s.error_min && w.requests > 0 && w.failures / w.requests >= s.error_ratio;
}

export const errorIp: IpRule<ErrorIpFinding> = {
  type: 'error_ip',
  entity: 'ip',
  metric: { name: 'kong_siem_error_ip', help: 'Failures in the window of IP keys flagged by the error_ip rule.' },
  wakes: (k: RecordKind) => k.failure,
  serviceWindows: [],
  // enough failures: only fewer as the window slides on
  candidate: (c: IpCounts, s: DetectionSettings) => c.ip(WINDOW.window).failures >= s.error_min,
  holds: (c: IpCounts, s: DetectionSettings) => fires(c.ip(WINDOW.window), s),
  finding(service, ip, c, _s, since) {
    const w = c.ip(WINDOW.window);
    return { type: 'error_ip', service, ip, count: w.failures, ratio: round(w.failures / w.requests), since };
  },
};
