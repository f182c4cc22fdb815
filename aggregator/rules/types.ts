// What a detection is, as the engine sees it. Each rule module exports one
// IpRule or CredentialRule; the registry lists them; the shared steps
// (step.ts) and both state backends drive them without knowing which rule
// they hold.
import type { RecordKind } from '../../common/record';
import type { DetectionSettings } from '../../common/settings';
import type { Counts } from '../window';
import type { WindowId } from '../state/layout';

/**
 * One entity's standing with one rule: OUT (not a candidate), NONE (a
 * candidate not meeting the rule now) or, when it meets the rule, the `ts`
 * of the record with which its current run began.
 */
export type Run = number;
export const OUT = -2;
export const NONE = -1;

/** An IP key's counts at one clock, window by window (a backend sums them on demand). */
export interface IpCounts {
  /** the IP key's requests, failures, successes, auth failures in window `w` */
  ip(w: WindowId): Readonly<Counts>;
  /** the whole service's in window `w` (every IP key) */
  service(w: WindowId): Readonly<Counts>;
}

/**
 * What a backend's pairs may offer beside the ReadonlyMap: the pairs whose
 * ts is after `fromTs`, counted up to `stopAt` at most, without an iterator
 * (the memory backend's; rules use it when present).
 */
export interface CountsSince {
  countSince(fromTs: number, stopAt: number): number;
}

/** A credential's IP keys at one clock. */
export interface CredentialCounts {
  /** IP key -> newest ts, in order of last use (oldest first) */
  readonly ips: ReadonlyMap<string, number> & Partial<CountsSince>;
  /** the clock */
  readonly now: number;
}

interface RuleBase<F extends { type: string }> {
  readonly type: F['type'];
  /** the gauge of flagged entities (docs/metrics.md), value = the finding's count */
  readonly metric: { readonly name: string; readonly help: string };
}

export interface IpRule<F extends { type: string } = { type: string }> extends RuleBase<F> {
  readonly entity: 'ip';
  /**
   * Whether a record of this kind (failure, success, auth failure: see
   * common/record.ts classify) can turn a non-candidate into a candidate. Records that cannot
   * skip the rule for IP keys that are not candidates (most keys, most
   * records).
   */
  wakes(k: RecordKind): boolean;
  /** windows of the service's totals it reads through IpCounts.service (a shared backend fetches only these) */
  readonly serviceWindows: readonly WindowId[];
  /**
   * Necessary condition of the rule that can only weaken as time passes with
   * no new record of the IP key. An entity meeting the rule at any clock
   * therefore met this at its newest record, which lets backends track
   * candidates at ingest and never scan all keys.
   */
  candidate(c: IpCounts, s: DetectionSettings): boolean;
  /**
   * Optional: a least count of requests of the IP key in WINDOW.window that
   * `candidate` needs (candidate(c, s) implies c.ip(WINDOW.window).requests
   * >= minRequests(s)). A shared backend then reads the history of a key
   * this rule alone wakes only when an upper bound of those requests (its
   * top score, plus the batch's) reaches it: most keys are far below.
   */
  minRequests?(s: DetectionSettings): number;
  /** The rule itself at the counts' clock. */
  holds(c: IpCounts, s: DetectionSettings): boolean;
  /** The finding, for counts where `holds` is true. */
  finding(service: string, ip: string, c: IpCounts, s: DetectionSettings, since: number): F;
}

export interface CredentialRule<F extends { type: string } = { type: string }> extends RuleBase<F> {
  readonly entity: 'credential';
  candidate(c: CredentialCounts, s: DetectionSettings): boolean;
  holds(c: CredentialCounts, s: DetectionSettings): boolean;
  finding(service: string, credential: string, c: CredentialCounts, s: DetectionSettings, since: number): F;
  /** the finding's `count` alone: findings cut to SIEM_MAX_FINDINGS are then built only for those kept */
  count(c: CredentialCounts, s: DetectionSettings): number;
  /**
   * Optional, for counts where `holds` is true: the clock before which it
   * stays true with no new record (counts only lose IPs as time passes), so
   * a backend need not step the candidate at clock ticks before then.
   * Without it the memory backend steps the candidate at every tick.
   */
  holdsUntil?(c: CredentialCounts, s: DetectionSettings): number;
}

/** Ratios in findings: four decimals. */
export function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
