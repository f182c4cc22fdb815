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
}

export interface RecordBatch {
  settings?: Record<string, Partial<DetectionSettings>>;
  records: SiemRecord[];
  /** records the sender dropped since its last accepted batch */
  dropped?: number;
}

export interface IngestResult {
  accepted: number;
  rejected: number;
}

export const STRING_MAX = 256;
export const UNMATCHED_SERVICE = '_unmatched';

/** success: 200 <= status < 400; failure: status >= 400; 1xx is neither. */
export function isFailure(status: number): boolean {
  return status >= 400;
}
export function isSuccess(status: number): boolean {
  return status >= 200 && status < 400;
}

export type FindingType = 'error_ip' | 'credential_ips' | 'failure_spike';
export const FINDING_TYPES: readonly FindingType[] = Object.freeze(['error_ip', 'credential_ips', 'failure_spike']);

export interface ErrorIpFinding {
  type: 'error_ip';
  service: string;
  ip: string;
  /** failures in the window */
  count: number;
  ratio: number;
  since: number;
}

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

export interface FailureSpikeFinding {
  type: 'failure_spike';
  service: string;
  ip: string;
  /** failures in the spike window */
  count: number;
  /** successes in the baseline period */
  successes: number;
  ratio: number;
  since: number;
}

export type Finding = ErrorIpFinding | CredentialIpsFinding | FailureSpikeFinding;

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
