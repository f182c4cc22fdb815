// The Prometheus metrics of docs/metrics.md. One Registry per app (tests build
// many apps). Gauges are filled from one state snapshot per scrape, so a
// series disappears as soon as its entity stops qualifying, and labelled
// series stay bounded: top N + `other` per service, flagged entities only.
import { Counter, Gauge, Registry } from 'prom-client';
import type { GaugeSnapshot } from './state/state';

export interface SiemMetrics {
  registry: Registry;
  received: Counter;
  rejected: Counter<'reason'>;
  senderDropped: Counter;
  evictions: Counter<'table'>;
  /** operations a shared state backend (Redis) could not complete; ingest answered 503 */
  stateErrors: Counter;
  /** refresh every gauge from `snap` (call right before rendering) */
  fill(snap: GaugeSnapshot): void;
}

export function createMetrics(): SiemMetrics {
  const registry = new Registry();
  const registers = [registry];
  const gauge = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers });

  const topRequests = gauge('kong_siem_top_ip_requests', 'Requests in the window of the top N IP keys of a service, and of all others as ip="other".', ['service', 'ip']);
  const topErrors = gauge('kong_siem_top_ip_errors', 'Failures (status >= 400) in the window of the top N IP keys of a service by failures, and of all others as ip="other".', ['service', 'ip']);
  const errorIp = gauge('kong_siem_error_ip', 'Failures in the window of IP keys flagged by the error_ip rule.', ['service', 'ip']);
  const credentialIps = gauge('kong_siem_credential_ips', 'Distinct IP keys of credentials flagged by the credential_ips rule.', ['service', 'credential']);
  const failureSpike = gauge('kong_siem_failure_spike', 'Failures in the spike window of IP keys flagged by the failure_spike rule.', ['service', 'ip']);
  const uniqueIps = gauge('kong_siem_unique_ips', 'Distinct IP keys seen in the service\'s window.', ['service']);
  const windowRequests = gauge('kong_siem_window_requests', 'Requests in the service\'s window.', ['service']);
  const trackedIps = gauge('kong_siem_tracked_ips', 'IP keys held in state, all services.');
  const trackedKeys = gauge('kong_siem_tracked_keys', 'Keys held in state (IP and credential), all services.');

  const received = new Counter({ name: 'kong_siem_records_received_total', help: 'Records received, valid or not.', registers });
  const rejected = new Counter({ name: 'kong_siem_records_rejected_total', help: 'Records (and settings entries) rejected, by reason.', labelNames: ['reason'], registers });
  const senderDropped = new Counter({ name: 'kong_siem_sender_dropped_total', help: 'Records that senders reported they dropped before delivery.', registers });
  const stateErrors = new Counter({ name: 'kong_siem_state_errors_total', help: 'State backend operations that failed (shared state unreachable); ingest answered 503.', registers });
  const evictions = new Counter({ name: 'kong_siem_evictions_total', help: 'Keys evicted at the SIEM_MAX_KEYS cap, by table.', labelNames: ['table'], registers });
  // Show the reasons and tables at zero from the start: alert rules on
  // rate() need the series to exist before the first increment.
  for (const reason of ['invalid', 'ip', 'status', 'length', 'late', 'services', 'settings', 'stream']) rejected.inc({ reason }, 0);
  for (const table of ['ip', 'credential']) evictions.inc({ table }, 0);

  function fill(snap: GaugeSnapshot): void {
    for (const g of [topRequests, topErrors, errorIp, credentialIps, failureSpike, uniqueIps, windowRequests]) g.reset();
    for (const s of snap.services) {
      for (const it of s.topRequests.items) topRequests.set({ service: s.service, ip: it.ip }, it.count);
      topRequests.set({ service: s.service, ip: 'other' }, s.topRequests.other);
      for (const it of s.topErrors.items) topErrors.set({ service: s.service, ip: it.ip }, it.count);
      topErrors.set({ service: s.service, ip: 'other' }, s.topErrors.other);
      uniqueIps.set({ service: s.service }, s.uniqueIps);
      windowRequests.set({ service: s.service }, s.windowRequests);
    }
    for (const f of snap.findings) {
      if (f.type === 'error_ip') errorIp.set({ service: f.service, ip: f.ip }, f.count);
      else if (f.type === 'credential_ips') credentialIps.set({ service: f.service, credential: f.credential }, f.count);
      else failureSpike.set({ service: f.service, ip: f.ip }, f.count);
    }
    trackedIps.set(snap.trackedIps);
    trackedKeys.set(snap.trackedKeys);
  }

  return { registry, received, rejected, senderDropped, evictions, stateErrors, fill };
}
