// Use case (a) as a finding: an IP key with at least `flood_min_requests`
// requests in the window making >= `flood_min_share` of all its service's
// requests there. Top lists rank IPs; this names the one that dominates.
import type { DetectionSettings } from '../../common/settings';
import { WINDOW } from '../state/layout';
import { round, type IpCounts, type IpRule } from './types';

export interface FloodIpFinding {
  type: 'flood_ip';
  service: string;
  ip: string;
  /** requests in the window */
  count: number;
  /** the IP's share of the service's requests there */
  ratio: number;
  since: number;
}

function holds(c: IpCounts, s: DetectionSettings): boolean {
  const mine = c.ip(WINDOW.window).requests;
  if (mine < s.flood_min_requests) return false;
  const all = c.service(WINDOW.window).requests;
  return all > 0 && mine / all >= s.flood_min_share;
}

export const floodIp: IpRule<FloodIpFinding> = {
  type: 'flood_ip',
  entity: 'ip',
  metric: { name: 'kong_siem_flood_ip', help: 'Requests in the window of IP keys flagged by the flood_ip rule.' },
  // every request counts
  wakes: () => true,
  serviceWindows: [WINDOW.window],
  // enough requests of its own: only fewer as the window slides on (its share
  // can grow when the others stop, so the share is no candidate condition)
  candidate: (c: IpCounts, s: DetectionSettings) => c.ip(WINDOW.window).requests >= s.flood_min_requests,
  minRequests: (s: DetectionSettings) => s.flood_min_requests,
  holds,
  finding(service, ip, c, _s, since) {
    const mine = c.ip(WINDOW.window).requests;
    return { type: 'flood_ip', service, ip, count: mine, ratio: round(mine / c.service(WINDOW.window).requests), since };
  },
};
