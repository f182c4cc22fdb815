// Use case (c): a credential seen from at least `credential_min_ips` distinct
// IP keys within `credential_window_seconds`.
import type { DetectionSettings } from '../../common/settings';
import type { CountsSince, CredentialCounts, CredentialRule } from './types';

export interface CredentialIpsFinding {
  type: 'credential_ips';
  service: string;
  credential: string;
  /** distinct IP keys in the credential window */
  count: number;
  /** at most 20 IP keys, newest first */
  ips: string[];
  since: number;
}

/** IP keys listed in a finding's `ips` (docs/api.md) */
export const FINDING_IPS_MAX = 20;

type Pairs = ReadonlyMap<string, number> & Partial<CountsSince>;

/** `lastSeen`: IP key -> newest ts. Returns the distinct IP keys seen after `fromTs`. */
export function distinctIpsSince(lastSeen: Pairs, fromTs: number): number {
  if (lastSeen.countSince) return lastSeen.countSince(fromTs, Number.POSITIVE_INFINITY);
  let n = 0;
  for (const ts of lastSeen.values()) if (ts > fromTs) n++;
  return n;
}

/**
 * At least `credential_min_ips` IP keys seen after `fromTs`, the walk
 * stopping there (ingest and sweep need no exact count).
 */
export function atLeastIpsSince(lastSeen: Pairs, fromTs: number, min: number): boolean {
  if (min <= 0) return true;
  if (lastSeen.size < min) return false;
  if (lastSeen.countSince) return lastSeen.countSince(fromTs, min) >= min;
  let n = 0;
  for (const ts of lastSeen.values()) if (ts > fromTs && ++n >= min) return true;
  return false;
}

/** At most `max` IP keys seen after `fromTs`, newest first (the finding's `ips`). */
export function newestIps(lastSeen: ReadonlyMap<string, number>, fromTs: number, max: number): string[] {
  const seen = [...lastSeen].filter(([, ts]) => ts > fromTs);
  seen.sort((a, b) => b[1] - a[1]);
  return seen.slice(0, max).map(([ip]) => ip);
}

const fromTs = (c: CredentialCounts, s: DetectionSettings) => c.now - s.credential_window_seconds * 1000;
const holds = (c: CredentialCounts, s: DetectionSettings) => atLeastIpsSince(c.ips, fromTs(c, s), s.credential_min_ips);

export const credentialIps: CredentialRule<CredentialIpsFinding> = {
  type: 'credential_ips',
  entity: 'credential',
  metric: { name: 'kong_siem_credential_ips', help: 'Distinct IP keys of credentials flagged by the credential_ips rule.' },
  // the rule itself: IPs only leave the window as time passes
  candidate: holds,
  holds,
  count: (c, s) => distinctIpsSince(c.ips, fromTs(c, s)),
  finding(service, credential, c, s, since) {
    const from = fromTs(c, s);
    return {
      type: 'credential_ips',
      service,
      credential,
      count: distinctIpsSince(c.ips, from),
      ips: newestIps(c.ips, from, FINDING_IPS_MAX),
      since,
    };
  },
};
