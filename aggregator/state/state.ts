// The state interface: validated records in; findings, top lists and gauges
// out. The in-memory backend implements it; a shared backend (Redis) can too.
import type { Finding, FindingType, TopList } from '../../common/record';
import type { DetectionSettings } from '../../common/settings';

/** A record that passed validation, with its IP key computed. */
export interface KeyedRecord {
  ts: number;
  ipKey: string;
  status: number;
  service: string;
  credential?: string;
}

export type RejectReason = 'invalid' | 'ip' | 'status' | 'length' | 'late' | 'services' | 'settings' | 'stream';

export interface ApplyResult {
  accepted: number;
  /** rejections by reason (only those the state decides: late, services) */
  rejected: Partial<Record<RejectReason, number>>;
}

export interface FindingFilter {
  type?: FindingType;
  service?: string;
}

export interface ServiceGauges {
  service: string;
  topRequests: TopList;
  topErrors: TopList;
  uniqueIps: number;
  windowRequests: number;
}

export interface GaugeSnapshot {
  services: ServiceGauges[];
  findings: Finding[];
  trackedIps: number;
  trackedKeys: number;
}

export interface SiemState {
  /** Apply per-service settings; returns the services whose settings were refused. */
  applySettings(settings: Record<string, unknown>): Promise<string[]>;
  apply(records: readonly KeyedRecord[]): Promise<ApplyResult>;
  findings(filter?: FindingFilter): Promise<Finding[]>;
  top(service: string, by: 'requests' | 'errors', n?: number): Promise<TopList>;
  gauges(): Promise<GaugeSnapshot>;
  settingsOf(service: string): DetectionSettings;
  /** housekeeping: expire keys, drop stale candidates */
  sweep(): void;
  /** called for every key evicted at the SIEM_MAX_KEYS cap */
  onEvict?: (table: 'ip' | 'credential') => void;
  /** whether the backend can take records now, and why not (shared backends) */
  health?(): StateHealth;
  /** release connections (called when the app closes) */
  close?(): Promise<void>;
}

export interface StateHealth {
  ok: boolean;
  reason?: string;
}
