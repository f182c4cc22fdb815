// What the plugin sends, what the aggregator stores and reports, and what the
// CLI replays: the wire format of docs/api.md, "Ingest: POST /v1/records".

import type { DetectionSettings } from './settings';

/** One request as the gateway saw it. */
export interface SiemRecord {
  /** when Kong started the request (`started_at`), ms since epoch */
  ts: number;
  /** client IP, IPv4 or IPv6 text form */
  ip: string;
  status: number;
  /** Kong service name, else its id; `_unmatched` when no service matched */
  service: string;
  /** credential in use, already a fingerprint when the plugin hashes */
  credential?: string;
  consumer?: string;
  host?: string;
  route?: string;
  method?: string;
  latency_ms?: number;
  /** the outcome the plugin decided with `success_statuses`; absent: the status rule */
  outcome?: Outcome;
}

export type Outcome = 'success' | 'failure';
export const OUTCOMES: readonly Outcome[] = ['success', 'failure'];

export interface RecordBatch {
  /** the sender's id of this batch, the same on every retry (≤ 64 characters) */
  batch?: string;
  settings?: Record<string, Partial<DetectionSettings>>;
  records: SiemRecord[];
  /** records the sender dropped since its last accepted batch */
  dropped?: number;
}

export interface IngestResult {
  accepted: number;
  rejected: number;
}

/** most code points of a record's strings (common/limits.ts holds every limit) */
export { STRING_MAX } from './limits';
export const UNMATCHED_SERVICE = '_unmatched';

/** success: 200 <= status < 400; failure: status >= 400; 1xx is neither. */
export function isFailure(status: number): boolean {
  return status >= 400;
}
export function isSuccess(status: number): boolean {
  return status >= 200 && status < 400;
}

/** How one record counts in the windows. */
export interface RecordKind {
  failure: boolean;
  success: boolean;
  /** a failed authentication (auth_bruteforce) */
  auth: boolean;
}

const KINDS: readonly RecordKind[] = Object.freeze(
  [0, 1, 2, 3, 4, 5, 6, 7].map((b) => Object.freeze({ failure: (b & 1) !== 0, success: (b & 2) !== 0, auth: (b & 4) !== 0 })),
);
const kind = (failure: boolean, success: boolean, auth: boolean) =>
  KINDS[(failure ? 1 : 0) | (success ? 2 : 0) | (auth ? 4 : 0)] as RecordKind;

/**
 * The status rule, or the outcome the plugin decided (`success_statuses`)
 * when the record carries one. A failed authentication is a 401 or 403
 * answer, or a failure decided on a status the status rule calls a success
 * (a login route that answers a failed login with 200). Shared frozen
 * objects: classifying allocates nothing.
 */
export function classify(status: number, outcome?: Outcome): RecordKind {
  if (outcome === 'success') return kind(false, true, false);
  if (outcome === 'failure') return kind(true, false, status === 401 || status === 403 || status < 400);
  return kind(isFailure(status), isSuccess(status), status === 401 || status === 403);
}

// Findings are defined by the rules that build them (aggregator/rules); a
// type-only import, so nothing of the aggregator loads with this module.
export type { Finding, FindingType } from '../aggregator/rules/registry';

export interface TopItem {
  ip: string;
  count: number;
}

export interface TopList {
  service: string;
  by: 'requests' | 'errors';
  window_seconds: number;
  items: TopItem[];
  other: number;
}
