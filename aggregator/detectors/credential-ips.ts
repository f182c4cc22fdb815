// Use case (c): a credential seen from at least `credential_min_ips` distinct
// IP keys within `credential_window_seconds`.
import type { DetectionSettings } from '../../common/settings';

/** `lastSeen`: IP key -> newest ts, oldest first. Returns the distinct IP keys seen after `fromTs`. */
export function distinctIpsSince(lastSeen: ReadonlyMap<string, number>, fromTs: number): number {
  let n = 0;
  for (const ts of lastSeen.values()) if (ts > fromTs) n++;
  return n;
}

/**
 * The rule without the exact count: at least `credential_min_ips` IP keys seen
 * after `fromTs`, the walk stopping there (ingest and sweep need no more).
 */
export function credentialIpsCandidate(lastSeen: ReadonlyMap<string, number>, fromTs: number, s: DetectionSettings): boolean {
  const min = s.credential_min_ips;
  if (min <= 0) return true;
  if (lastSeen.size < min) return false;
  let n = 0;
  for (const ts of lastSeen.values()) if (ts > fromTs && ++n >= min) return true;
  return false;
}

export function credentialIps(distinct: number, s: DetectionSettings): number | undefined {
  return distinct >= s.credential_min_ips ? distinct : undefined;
}

/** At most `max` IP keys seen after `fromTs`, newest first (the finding's `ips`). */
export function newestIps(lastSeen: ReadonlyMap<string, number>, fromTs: number, max: number): string[] {
  const seen = [...lastSeen].filter(([, ts]) => ts > fromTs);
  seen.sort((a, b) => b[1] - a[1]);
  return seen.slice(0, max).map(([ip]) => ip);
}
