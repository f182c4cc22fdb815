// The one place where an entity's candidacy and `since` change. Both backends
// call these at every record that touches a rule (ingest, Redis replay) and
// at every clock tick without a record (sweep, snapshot restore).
import type { DetectionSettings } from '../../common/settings';
import { NONE, OUT, type CredentialCounts, type CredentialRule, type IpCounts, type IpRule, type Run } from './types';

/**
 * The run after a record at `ts` (or a clock tick when `ts` is undefined):
 * out when the candidate condition fails; a candidate without a run when the
 * rule does not hold; else the run goes on, or begins at `ts`.
 */
export function stepIp(rule: IpRule, before: Run, c: IpCounts, s: DetectionSettings, ts?: number): Run {
  if (!rule.candidate(c, s)) return OUT;
  // a rule whose candidate condition is the rule itself is not evaluated twice
  if (rule.holds !== rule.candidate && !rule.holds(c, s)) return NONE;
  return before >= 0 ? before : (ts ?? NONE);
}

/** stepIp for credentials. */
export function stepCredential(rule: CredentialRule, before: Run, c: CredentialCounts, s: DetectionSettings, ts?: number): Run {
  if (!rule.candidate(c, s)) return OUT;
  if (rule.holds !== rule.candidate && !rule.holds(c, s)) return NONE;
  return before >= 0 ? before : (ts ?? NONE);
}

/** A finding's `since`: the run's start, else (a run begun between records) the entity's newest record. */
export function sinceOf(run: Run, lastTs: number): number {
  return run >= 0 ? run : lastTs;
}
