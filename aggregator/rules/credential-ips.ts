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

/** the newest few ts while nthNewestTs walks, newest first (no array per call for the usual credential_min_ips) */
const newest = new Float64Array(8);

/** The `n`-th newest ts of `lastSeen` (-Infinity when it holds fewer). */
export function nthNewestTs(lastSeen: ReadonlyMap<string, number>, n: number): number {
  if (n <= 0) return Number.POSITIVE_INFINITY;
  if (lastSeen.size < n) return Number.NEGATIVE_INFINITY;
  if (n > newest.length) {
    const all = Float64Array.from(lastSeen.values()).sort();
    return all[all.length - n] as number;
  }
  newest.fill(Number.NEGATIVE_INFINITY, 0, n);
  for (const ts of lastSeen.values()) {
    if (ts <= (newest[n - 1] as number)) continue;
    let i = n - 1;
    for (; i > 0 && ts > (newest[i - 1] as number); i--) newest[i] = newest[i - 1] as number;
    newest[i] = ts;
  }
  return newest[n - 1] as number;
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
  // holds while the credential_min_ips-th newest IP is in the window: ts > now - window
  holdsUntil: (c, s) => nthNewestTs(c.ips, s.credential_min_ips) + s.credential_window_seconds * 1000,
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
