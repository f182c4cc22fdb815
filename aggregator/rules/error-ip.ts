// Use case (b): an IP key with at least `error_min` failures in the window
// (long) or at least `error_burst_min` failures within `error_burst_seconds`
// (burst), either at a failure ratio >= `error_ratio` (failures / all its
// requests in that window). The burst window catches short scans and guesses
// as soon as a leaky bucket would, without lowering the long threshold that
// keeps clients with a few 404s clean.
import type { RecordKind } from '../../common/record';
import type { DetectionSettings } from '../../common/settings';
import { WINDOW } from '../state/layout';
import type { Counts } from '../window';
import { round, type IpCounts, type IpRule } from './types';

export interface ErrorIpFinding {
  type: 'error_ip';
  service: string;
  ip: string;
  /** failures in the window that made it qualify */
  count: number;
  ratio: number;
  since: number;
  /** the window that made it qualify: `long` (window_seconds) when it holds, else `burst` (error_burst_seconds) */
  window: 'long' | 'burst';
}

function fires(w: Readonly<Counts>, min: number, s: DetectionSettings): boolean {
  return w.failures >= min && w.requests > 0 && w.failures / w.requests >= s.error_ratio;
}

const long = (c: IpCounts, s: DetectionSettings) => fires(c.ip(WINDOW.window), s.error_min, s);
const burst = (c: IpCounts, s: DetectionSettings) => fires(c.ip(WINDOW.burst), s.error_burst_min, s);

export const errorIp: IpRule<ErrorIpFinding> = {
  type: 'error_ip',
  entity: 'ip',
  metric: {
    name: 'kong_siem_error_ip',
    help: 'Failures in the window (long or burst) that made IP keys flagged by the error_ip rule qualify.',
  },
  wakes: (k: RecordKind) => k.failure,
  serviceWindows: [],
  // enough failures in either window: only fewer as the windows slide on
  candidate: (c: IpCounts, s: DetectionSettings) =>
    c.ip(WINDOW.window).failures >= s.error_min || c.ip(WINDOW.burst).failures >= s.error_burst_min,
  holds: (c: IpCounts, s: DetectionSettings) => long(c, s) || burst(c, s),
  finding(service, ip, c, s, since) {
    const window = long(c, s) ? 'long' : 'burst';
    const w = c.ip(window === 'long' ? WINDOW.window : WINDOW.burst);
    return { type: 'error_ip', service, ip, count: w.failures, ratio: round(w.failures / w.requests), since, window };
  },
};
