// Credential guessing: an IP key with at least `auth_fail_min` failed
// authentications (401/403 answers, or failures the plugin decided on a login
// route, see common/record.ts classify) within `auth_fail_window_seconds`,
// making >= `auth_fail_ratio` of its requests there. Tighter than error_ip
// because 401/403 are the signature of guessing: a client with a few 404s
// never counts here.
import type { RecordKind } from '../../common/record';
import type { DetectionSettings } from '../../common/settings';
import { WINDOW } from '../state/layout';
import type { Counts } from '../window';
import { round, type IpCounts, type IpRule } from './types';

export interface AuthBruteforceFinding {
  type: 'auth_bruteforce';
  service: string;
  ip: string;
  /** failed authentications in the window */
  count: number;
  /** their share of the IP key's requests there */
  ratio: number;
  since: number;
}

function fires(w: Readonly<Counts>, s: DetectionSettings): boolean {
  return w.auth_failures >= s.auth_fail_min && w.requests > 0 && w.auth_failures / w.requests >= s.auth_fail_ratio;
}

export const authBruteforce: IpRule<AuthBruteforceFinding> = {
  type: 'auth_bruteforce',
  entity: 'ip',
  metric: {
    name: 'kong_siem_auth_bruteforce',
    help: 'Failed authentications (401/403) in the window of IP keys flagged by the auth_bruteforce rule.',
  },
  wakes: (k: RecordKind) => k.auth,
  serviceWindows: [],
  // enough failed authentications: only fewer as the window slides on
  candidate: (c: IpCounts, s: DetectionSettings) => c.ip(WINDOW.auth).auth_failures >= s.auth_fail_min,
  holds: (c: IpCounts, s: DetectionSettings) => fires(c.ip(WINDOW.auth), s),
  finding(service, ip, c, _s, since) {
    const w = c.ip(WINDOW.auth);
    return { type: 'auth_bruteforce', service, ip, count: w.auth_failures, ratio: round(w.auth_failures / w.requests), since };
  },
};
