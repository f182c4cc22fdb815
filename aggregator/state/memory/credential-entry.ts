// A credential key of the in-memory state: the IP keys it was seen from
// (bounded per credential), and its accounted weight (key-budget.ts), kept
// in step with every remembered credential-IP pair.
import { CREDENTIAL_RULES } from '../../rules/registry';
import { stepCredential } from '../../rules/step';
import { OUT, type Run } from '../../rules/types';
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
  return { kind: 'credential', svc, key: credential, lastTs, ips, bytes, node: -1, inRuns: 0, run0: OUT };
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
 * `c` is reused counts. A run is written only when it changes.
 */
export function stepCredentialRules(
  svc: ServiceState,
  e: CredentialEntry,
  c: { ips: ReadonlyMap<string, number>; now: number },
  now: number,
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
}
