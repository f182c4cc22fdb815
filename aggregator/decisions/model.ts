// What a decision is, inside the aggregator and on the wire (CrowdSec's
// models.Decision: id, origin, type, scope, value, duration, scenario).
import type { DecisionScope } from './policy';
import { formatDuration } from './duration';

export type DecisionOrigin = 'kong-siem' | 'manual';
export const ORIGINS: readonly DecisionOrigin[] = ['kong-siem', 'manual'];
export const SCENARIO_PREFIX = 'kong-siem/';
export const MANUAL_SCENARIO = `${SCENARIO_PREFIX}manual`;

/** A finding's figures, kept as the decision's evidence (the finding minus its IP). */
export interface Evidence {
  type: string;
  service: string;
  count: number;
  ratio?: number;
  successes?: number;
  since: number;
}

/** A finding that names an IP key (every IP rule; not credential_ips). */
export interface IpFinding extends Evidence {
  ip: string;
}

export interface StoredDecision {
  /** unique, and the change sequence number at which it was added */
  id: number;
  origin: DecisionOrigin;
  scenario: string;
  scope: DecisionScope;
  value: string;
  /** wall-clock ms when it ends */
  until: number;
  /** wall-clock ms when it was first made (kept across re-issues) */
  created: number;
  /** `until` as bouncers learned it when this id was issued */
  issuedUntil: number;
  /** ban length of its policy (automatic) or as asked (manual), ms */
  durationMs: number;
  /** rank under SIEM_MAX_DECISIONS: the finding's count; manual decisions rank first */
  strength: number;
  /** newest `since` among its findings when last seen (automatic) */
  since?: number;
  evidence: Evidence[];
  reason?: string;
}

/** A decision taken back (deleted, expired, displaced), remembered for incremental pulls. */
export interface Tombstone {
  /** change sequence number of the removal */
  seq: number;
  id: number;
  scope: DecisionScope;
  value: string;
  scenario: string;
  origin: DecisionOrigin;
}

export const MANUAL_STRENGTH = Number.MAX_SAFE_INTEGER;
/** evidence entries kept per decision */
export const MAX_EVIDENCE = 5;

/** CrowdSec's Local API shape of a decision, `duration` = time left at `now`. */
export interface WireDecision {
  id: number;
  origin: DecisionOrigin;
  type: 'ban';
  scope: DecisionScope;
  value: string;
  duration: string;
  scenario: string;
}

export function toWire(d: StoredDecision | Tombstone, now: number): WireDecision {
  const until = 'until' in d ? d.until : now;
  return {
    id: d.id,
    origin: d.origin,
    type: 'ban',
    scope: d.scope,
    value: d.value,
    duration: formatDuration(until - now),
    scenario: d.scenario,
  };
}
