// Every detection that produces findings, one line each. Adding a rule: write
// its module (see error-ip.ts), add it here, add its settings to
// common/settings.ts; both backends, the findings API, the metrics and
// snapshots pick it up from this list.
import { authBruteforce } from './auth-bruteforce';
import { credentialIps } from './credential-ips';
import { errorIp } from './error-ip';
import { failureSpike } from './failure-spike';
import { floodIp } from './flood-ip';
import type { CredentialRule, IpRule } from './types';

const IP = [errorIp, failureSpike, floodIp, authBruteforce] as const;
const CREDENTIAL = [credentialIps] as const;

/** Rules over IP keys, in a fixed order (backends index their per-rule state by it). */
export const IP_RULES: readonly IpRule[] = IP;
/** Rules over credentials. */
export const CREDENTIAL_RULES: readonly CredentialRule[] = CREDENTIAL;
export const RULES: readonly (IpRule | CredentialRule)[] = [...IP_RULES, ...CREDENTIAL_RULES];

type FindingOf<R> = R extends { finding(...args: never[]): infer F } ? F : never;
/** One entry of GET /v1/findings. */
export type Finding = FindingOf<(typeof IP)[number] | (typeof CREDENTIAL)[number]>;
export type FindingType = Finding['type'];
export const FINDING_TYPES: readonly FindingType[] = Object.freeze(RULES.map((r) => r.type as FindingType));

/** The entity a finding names: its IP key or credential. */
export function entityOf(f: Finding): string {
  return 'credential' in f ? f.credential : f.ip;
}

/** Code-unit order of two strings (compareFindings' ties). */
export const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Findings order, the strongest first, ties in a fixed order: every backend
 * and every aggregator of one Redis cut SIEM_MAX_FINDINGS at the same entity.
 */
export function compareFindings(a: Finding, b: Finding): number {
  return b.count - a.count || cmp(a.type, b.type) || cmp(a.service, b.service) || cmp(entityOf(a), entityOf(b));
}
