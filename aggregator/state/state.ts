// The state interface: validated records in; findings, top lists and gauges
// out. The app meets its backend (memory/ or redis/) only through this.
import type { Outcome, TopList } from '../../common/record';
import type { DetectionSettings } from '../../common/settings';
import type { Clock } from '../clock';
import type { JsonLines } from '../json-lines';
import type { Finding, FindingType } from '../rules/registry';

/** A record that passed validation, with its IP key computed. */
export interface KeyedRecord {
  ts: number;
  ipKey: string;
  status: number;
  service: string;
  credential?: string;
  /** the outcome the plugin decided (success_statuses); absent: the status rule */
  outcome?: Outcome;
}

export type RejectReason = 'invalid' | 'ip' | 'status' | 'length' | 'late' | 'future' | 'services' | 'settings' | 'stream';

export interface ApplyResult {
  accepted: number;
  /** rejections by reason (only those the state decides: late, future, services) */
  rejected: Partial<Record<RejectReason, number>>;
  /** the batch id was stored before (a retry after a lost answer): nothing counted again */
  duplicate?: boolean;
}

/** told of each record the state rejects: the reason and the record's index in the batch */
export type OnReject = (reason: RejectReason, index: number) => void;

export interface FindingFilter {
  type?: FindingType;
  /** only these types (the decision policy's): rules of other types are not evaluated at all */
  types?: readonly string[];
  service?: string;
}

/** Whether findings of type `t` pass `filter`: the backends skip a rule's candidates when not. */
export const wantsType = (filter: FindingFilter, t: string): boolean =>
  (filter.type === undefined || filter.type === t) && (filter.types === undefined || filter.types.includes(t));

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
  /**
   * Store records. A backend that keeps batch ids itself (sharedBatchIds)
   * stores the records and the id `batch` in one step, and answers a known
   * id as a duplicate. `onReject` is told of each record the state rejects.
   */
  apply(records: readonly KeyedRecord[], batch?: string, onReject?: OnReject): Promise<ApplyResult>;
  /** true when apply() records batch ids atomically with the batch, for every aggregator sharing the state */
  readonly sharedBatchIds?: boolean;
  findings(filter?: FindingFilter): Promise<Finding[]>;
  top(service: string, by: 'requests' | 'errors', n?: number): Promise<TopList>;
  gauges(): Promise<GaugeSnapshot>;
  settingsOf(service: string): DetectionSettings;
  /** The settings in force of every service with a place (and, locked, every service of SIEM_SETTINGS_FILE). */
  settingsInForce(): Promise<Record<string, DetectionSettings>>;
  /** housekeeping: expire keys, step candidates at the clock; resolves when done */
  sweep(): Promise<void>;
  /** called for every key evicted at the SIEM_MAX_KEYS cap */
  onEvict?: (table: 'ip' | 'credential') => void;
  /** whether the backend can take records now, and why not (shared backends) */
  health?(): StateHealth;
  /** health() and a write the backend must accept (/healthz): a connected backend may still refuse writes */
  probe?(): Promise<StateHealth>;
  /** release connections (called when the app closes) */
  close?(): Promise<void>;
  /** present when the backend can be saved to and restored from SIEM_STATE_FILE */
  readonly snapshots?: Snapshotting;
}

/** What /healthz and the kong_siem_state_up gauge say: the probe where the backend has one, else its health, else ok (memory). */
export async function stateHealth(state: Pick<SiemState, 'health' | 'probe'>): Promise<StateHealth> {
  return (await state.probe?.()) ?? state.health?.() ?? { ok: true };
}

/** Run starts by rule type, of the runs in progress (see rules/types.ts Run). */
export type SnapshotRuns = Record<string, number>;

/** One key as written to a snapshot (see aggregator/state-file.ts). */
export type SnapshotEntry =
  | ['ip', string, string, number, number[], SnapshotRuns] // service, ip key, lastTs, series, runs
  | ['credential', string, string, number, [string, number][], SnapshotRuns]; // service, credential, lastTs, [ip, ts], runs

export interface SnapshotService {
  name: string;
  settings: DetectionSettings;
  /** version 1 and 2 files: the sub-bucket length the IP series were written with (version 3 writes keys of the one grid) */
  bucketMs?: number;
}

/** Settings kept aside for a service without a place (state/settings.ts SettingsAside). */
export type SnapshotAside = [name: string, settings: DetectionSettings];

/**
 * A snapshot being taken in steps, with ingest going on between them
 * (aggregator/state-file.ts yields to the event loop between slices).
 */
export interface SnapshotExport {
  /** the services as at the start (the snapshot's header) */
  readonly services: SnapshotService[];
  /** settings kept aside for services without a place, least recently set first (bounded by SIEM_MAX_SERVICES) */
  readonly aside: SnapshotAside[];
  /**
   * Do up to `max` keys' worth of work, handing each entry ready to `take`
   * (every key, least recently seen first, each as it is when reached; an
   * entry may share arrays with the state: use it within the call).
   * Returns false once every key has been handed over.
   */
  step(max: number, take: (e: SnapshotEntry) => void): boolean;
  /**
   * As step, each entry written as its line into `out`: the bytes of
   * JSON.stringify(entry) and a newline, with no object made per key.
   */
  stepLines(max: number, out: JsonLines): boolean;
}

/** The capability of saving and restoring a backend's keys. */
export interface Snapshotting {
  /** start a snapshot at clock `now` */
  beginExport(now: number): SnapshotExport;
  importServices(services: readonly SnapshotService[]): void;
  /** settings kept aside, least recently set first (after importServices: a service with a place keeps its own) */
  importAside(aside: readonly SnapshotAside[]): void;
  /** restore one key (IP series on the grid's keys, state/level-grid.ts); false when skipped (expired, unknown service) */
  importEntry(e: SnapshotEntry): boolean;
}

export interface StateHealth {
  ok: boolean;
  reason?: string;
}

/** What every backend needs (memory and Redis alike). */
export interface StateOptions {
  clock: Clock;
  defaults: DetectionSettings;
  maxKeys: number;
  maxServices: number;
  maxFindings: number;
  credentialMaxIps: number;
  onEvict?: (table: 'ip' | 'credential') => void;
  /**
   * How the memory backend applies maxKeys (SIEM_MAX_KEYS); Redis ignores it
   * and always evicts as `count-after-batch` does (redis/evict.ts).
   * `bytes` (the default, and the product's): a byte budget kept at every
   * record, least recently touched first (memory/key-budget.ts).
   * `count-after-batch`: Redis's rule, so that both backends evict the same
   * keys: a count of keys, the excess evicted after each batch, least
   * recently touched first (a record touches its IP key before its
   * credential, so at equal times the IP key goes first, as on Redis). Not a
   * setting: memory so bounded is not bounded in bytes. For the differential
   * test (test/integration/redis-differential.test.ts); docs/engine.md,
   * "Eviction".
   */
  memoryEviction?: 'bytes' | 'count-after-batch';
  /** `locked`: applySettings ignores batches; services start with lockedSettings or the defaults (default `batch`) */
  settingsSource?: 'batch' | 'locked';
  lockedSettings?: ReadonlyMap<string, DetectionSettings>;
  /** told of each change of a service's settings in force, once (by the aggregator that made it) */
  onSettingsChange?: (service: string, before: DetectionSettings, after: DetectionSettings) => void;
}
