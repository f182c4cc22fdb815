// A credential key of the in-memory state: the IP keys it was seen from
// (bounded per credential), and its accounted weight (key-budget.ts), kept
// in step with every remembered credential-IP pair.
import { CREDENTIAL_RULES } from '../../rules/registry';
import { stepCredential } from '../../rules/step';
import type { DetectionSettings } from '../../../common/settings';
import { OUT, type CredentialCounts, type Run } from '../../rules/types';
import type { SnapshotRuns } from '../state';
import { CREDENTIAL_BYTES, stringBytes } from './key-budget';
import type { CredentialIps } from './credential-ips';
import type { CredentialEntry, ServiceState } from './service';

/**
 * A credential entry of `svc`, with its IP pairs (none yet, or a
 * snapshot's); not yet in the state's recency order. Its weight still counts the key string
 * lru-cache needed (`<service id>#<credential>`), so eviction is unchanged.
 */
export function newCredentialEntry(svc: ServiceState, credential: string, lastTs: number, ips: CredentialIps): CredentialEntry {
  const bytes = CREDENTIAL_BYTES + stringBytes(`${svc.id}#${credential}`) + stringBytes(credential) + ips.bytes;
  return { kind: 'credential', svc, key: credential, lastTs, ips, bytes, node: -1, inRuns: 0, run0: OUT, due: -1 };
}

/** Forget every IP of `e` (it expired); returns the change of its weight. */
export function clearIps(e: CredentialEntry): number {
  const delta = e.ips.clear();
  e.bytes += delta;
  return delta;
}

/**
 * `e` seen from `ipKey` (`v4`: its IPv4 address, else -1) at `ts`: the pair
 * moves to the newest end and the oldest goes past `cap` pairs
 * (credential-ips.ts). Returns the change of its weight.
 */
export function seeIp(e: CredentialEntry, v4: number, ipKey: string, ts: number, cap: number): number {
  const delta = e.ips.see(v4, ipKey, ts, cap);
  e.bytes += delta;
  return delta;
}

/**
 * Every credential rule over `e` at clock `now`, after a record at `ts`
 * (undefined: a clock tick), from the runs held or `saved` ones (a snapshot's);
 * `c` is reused counts, `cap` the IPs a credential keeps. A run is written
 * only when it changes.
 */
export function stepCredentialRules(
  svc: ServiceState,
  e: CredentialEntry,
  c: { ips: ReadonlyMap<string, number>; now: number },
  now: number,
  cap: number,
  ts?: number,
  saved?: SnapshotRuns,
): void {
  c.ips = e.ips;
  c.now = now;
  for (let i = 0; i < CREDENTIAL_RULES.length; i++) {
    const rule = CREDENTIAL_RULES[i] as (typeof CREDENTIAL_RULES)[number];
    const runs = svc.credentialRuns[i] as Map<CredentialEntry, Run>;
    const bit = 1 << i;
    // most credentials are no candidate: their flag spares a lookup in a map of them all
    const had = e.inRuns & bit ? (i === 0 ? e.run0 : runs.get(e)) : undefined;
    const after = stepCredential(rule, saved ? (saved[rule.type] ?? OUT) : (had ?? OUT), c, svc.settings, ts);
    if (after === OUT) {
      if (had !== undefined) {
        runs.delete(e);
        e.inRuns &= ~bit;
      }
    } else if (after !== had) {
      runs.set(e, after);
      e.inRuns |= bit;
      if (i === 0) e.run0 = after;
    }
  }
  // a candidate is stepped by the sweep when its time comes (credential-due.ts),
  // filed once: below its IP cap later records only move that time later, so a
  // filing is never late; one filed ahead that reaches the cap is filed again
  // for the next tick (steppedAt), its old filing left stale
  if (e.inRuns !== 0 && (e.due < 0 || (e.due > Math.floor(now / 1000) && e.ips.size >= cap)))
    svc.credentialDue.file(e, steppedAt(e, c, svc.settings, now, cap));
}

/** The clock at which the sweep must next step candidate `e` (`c`: its counts at `now`): the soonest a rule it is in may stop holding. */
function steppedAt(e: CredentialEntry, c: CredentialCounts, s: DetectionSettings, now: number, cap: number): number {
  // at its cap of IPs a new one drops the least recently used, which a late record can make newer than those
  // a rule counts: its time could then come sooner than filed, so such a candidate is stepped at every tick
  if (e.ips.size >= cap) return now;
  let at = Number.POSITIVE_INFINITY;
  for (let i = 0; i < CREDENTIAL_RULES.length; i++) {
    if ((e.inRuns & (1 << i)) === 0) continue;
    const rule = CREDENTIAL_RULES[i] as (typeof CREDENTIAL_RULES)[number];
    // a rule that does not say: every tick
    at = Math.min(at, rule.holdsUntil ? rule.holdsUntil(c, s) : now);
  }
  return at;
}
