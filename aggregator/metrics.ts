// The Prometheus metrics of docs/metrics.md. One Registry per app (tests build
// many apps). Gauges are filled from one state snapshot per scrape, so a
// series disappears as soon as its entity stops qualifying, and labelled
// series stay bounded: top N + `other` per service, flagged entities only.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { RULES } from './rules/registry';
import type { GaugeSnapshot } from './state/state';

export interface SiemMetrics {
  registry: Registry;
  received: Counter;
  rejected: Counter<'reason'>;
  senderDropped: Counter;
  evictions: Counter<'table'>;
  /** operations a shared state backend (Redis) could not complete; ingest answered 503 */
  stateErrors: Counter;
  /** 1 while the state backend takes reads and writes, 0 while not (set at each scrape) */
  stateUp: Gauge;
  /** ingest requests answered 4xx/5xx, by status: none of their records is counted anywhere else */
  ingestRefused: Counter<'status'>;
  /** refresh every gauge from `snap` (call right before rendering) */
  fill(snap: GaugeSnapshot): void;
}

/**
 * The process's own metrics come from prom-client's collectors under their
 * standard names, `process_*` and `nodejs_*` (CPU, memory, file
 * descriptors, heap, GC, event-loop lag), not under `kong_siem_`: every
 * Node.js dashboard and alert reads them by these names. Their labels are
 * bounded by the runtime (GC kinds, heap spaces, handle types, one version).
 */
export const PROCESS_METRIC_PREFIXES = ['process_', 'nodejs_'] as const;

/** The ingest refusals a sender meets (bad body, token, size, type; state down), shown at zero from the start. */
export const INGEST_REFUSALS = [400, 401, 413, 415, 503] as const;

export function createMetrics(opts: { processMetrics?: boolean } = {}): SiemMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (opts.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // Gauges named like counters (promtool's lint rejects them); the same
    // figures remain per type in nodejs_active_handles{type} and friends.
    for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      registry.removeSingleMetric(n);
  }
  const gauge = <L extends string>(name: string, help: string, labelNames: L[] = []) => new Gauge<L>({ name, help, labelNames, registers });

  const topRequests = gauge(
    'kong_siem_top_ip_requests',
    'Requests in the window of the top N IP keys of a service, and of all others as ip="other".',
    ['service', 'ip'],
  );
  const topErrors = gauge(
    'kong_siem_top_ip_errors',
    'Failures (status >= 400, or the outcome a route-aware sender decided) in the window of the top N IP keys of a service by failures, and of all others as ip="other".',
    ['service', 'ip'],
  );
  // one gauge per rule, labelled by its entity, valued by its findings' count
  const flagged = new Map(
    RULES.map((r) => [r.type, gauge<'service' | 'ip' | 'credential'>(r.metric.name, r.metric.help, ['service', r.entity])]),
  );
  const uniqueIps = gauge('kong_siem_unique_ips', "Distinct IP keys seen in the service's window.", ['service']);
  const windowRequests = gauge('kong_siem_window_requests', "Requests in the service's window.", ['service']);
  const trackedIps = gauge('kong_siem_tracked_ips', 'IP keys held in state, all services.');
  const trackedKeys = gauge('kong_siem_tracked_keys', 'Keys held in state (IP and credential), all services.');

  const received = new Counter({ name: 'kong_siem_records_received_total', help: 'Records received, valid or not.', registers });
  const rejected = new Counter({
    name: 'kong_siem_records_rejected_total',
    help: 'Records (and settings entries) rejected, by reason.',
    labelNames: ['reason'],
    registers,
  });
  const senderDropped = new Counter({
    name: 'kong_siem_sender_dropped_total',
    help: 'Records that senders reported they dropped before delivery.',
    registers,
  });
  const stateErrors = new Counter({
    name: 'kong_siem_state_errors_total',
    help: 'State backend operations that failed (shared state unreachable); ingest answered 503.',
    registers,
  });
  const stateUp = gauge(
    'kong_siem_state_up',
    'Whether the state backend takes reads and writes at this scrape (1) or not (0: shared state down or refusing writes; ingest answers 503).',
  );
  stateUp.set(1);
  const evictions = new Counter({
    name: 'kong_siem_evictions_total',
    help: 'Keys evicted at the SIEM_MAX_KEYS cap (ip, credential), batch ids at the SIEM_MAX_BATCH_IDS cap (batch), by table.',
    labelNames: ['table'],
    registers,
  });
  const ingestRefused = new Counter({
    name: 'kong_siem_ingest_refused_total',
    help: 'Ingest requests (/v1/records, /v1/kong-log) answered with a 4xx or 5xx status, by status; their records are in no other counter.',
    labelNames: ['status'],
    registers,
  });
  // Show the reasons and tables at zero from the start: alert rules on
  // rate() need the series to exist before the first increment.
  for (const reason of ['invalid', 'ip', 'status', 'length', 'late', 'future', 'services', 'settings', 'stream'])
    rejected.inc({ reason }, 0);
  for (const table of ['ip', 'credential', 'batch']) evictions.inc({ table }, 0);
  for (const status of INGEST_REFUSALS) ingestRefused.inc({ status: String(status) }, 0);

  function fill(snap: GaugeSnapshot): void {
    for (const g of [topRequests, topErrors, uniqueIps, windowRequests, ...flagged.values()]) g.reset();
    for (const s of snap.services) {
      for (const it of s.topRequests.items) topRequests.set({ service: s.service, ip: it.ip }, it.count);
      topRequests.set({ service: s.service, ip: 'other' }, s.topRequests.other);
      for (const it of s.topErrors.items) topErrors.set({ service: s.service, ip: it.ip }, it.count);
      topErrors.set({ service: s.service, ip: 'other' }, s.topErrors.other);
      uniqueIps.set({ service: s.service }, s.uniqueIps);
      windowRequests.set({ service: s.service }, s.windowRequests);
    }
    for (const f of snap.findings) {
      const labels = 'credential' in f ? { service: f.service, credential: f.credential } : { service: f.service, ip: f.ip };
      flagged.get(f.type)?.set(labels, f.count);
    }
    trackedIps.set(snap.trackedIps);
    trackedKeys.set(snap.trackedKeys);
  }

  return { registry, received, rejected, senderDropped, evictions, stateErrors, stateUp, ingestRefused, fill };
}
