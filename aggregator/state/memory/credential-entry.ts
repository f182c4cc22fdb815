// A credential key of the in-memory state: the IP keys it was seen from
// (bounded per credential), and its accounted weight (key-budget.ts), kept
// in step with every remembered credential-IP pair.
import { CREDENTIAL_RULES } from '../../rules/registry';
import { stepCredential } from '../../rules/step';
import { OUT, type Run } from '../../rules/types';
import type { SnapshotRuns } from '../state';
import { CREDENTIAL_BYTES, CREDENTIAL_IP_BYTES, stringBytes } from './key-budget';
import type { CredentialEntry, ServiceState } from './service';

const pairBytes = (ip: string) => CREDENTIAL_IP_BYTES + stringBytes(ip);

/**
 * A credential entry of `svc`, with its IP pairs (a snapshot's) if any; not
 * yet in the state's recency order. Its weight still counts the key string
 * lru-cache needed (`<service id>#<credential>`), so eviction is unchanged.
 */
export function newCredentialEntry(
  svc: ServiceState,
  credential: string,
  lastTs: number,
  ips: Map<string, number> = new Map(),
): CredentialEntry {
  let bytes = CREDENTIAL_BYTES + stringBytes(`${svc.id}#${credential}`) + stringBytes(credential);
  for (const ip of ips.keys()) bytes += pairBytes(ip);
  return { kind: 'credential', svc, key: credential, lastTs, ips, newest: undefined, bytes, node: -1 };
}

/** Forget every IP of `e` (it expired); returns the change of its weight. */
export function clearIps(e: CredentialEntry): number {
  let delta = 0;
  for (const ip of e.ips.keys()) delta -= pairBytes(ip);
  e.ips.clear();
  e.newest = undefined;
  e.bytes += delta;
  return delta;
}

/**
 * `e` seen from `ipKey` at `ts`: the pair moves to the newest end (Map order
 * is order of last use) and the oldest goes past `cap` pairs. Returns the
 * change of its weight.
 */
export function seeIp(e: CredentialEntry, ipKey: string, ts: number, cap: number): number {
  if (e.newest === ipKey && e.ips.size <= cap) {
    // already the newest pair (a client sending again): nothing moves
    if (ts > (e.ips.get(ipKey) as number)) e.ips.set(ipKey, ts);
    return 0;
  }
  let delta = 0;
  const prev = e.ips.get(ipKey);
  if (prev !== undefined) e.ips.delete(ipKey);
  else delta += pairBytes(ipKey);
  e.ips.set(ipKey, prev !== undefined && prev > ts ? prev : ts);
  if (e.ips.size > cap) {
    const oldest = e.ips.keys().next().value as string;
    e.ips.delete(oldest);
    delta -= pairBytes(oldest);
  }
  e.newest = ipKey;
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
    const had = runs.get(e);
    const after = stepCredential(rule, saved ? (saved[rule.type] ?? OUT) : (had ?? OUT), c, svc.settings, ts);
    if (after === OUT) {
      if (had !== undefined) runs.delete(e);
    } else if (after !== had) runs.set(e, after);
  }
}
