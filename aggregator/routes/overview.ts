// GET /v1/overview (read token): what the findings page shows besides the
// findings, in one request per refresh: per service its window's requests,
// distinct IPs and both top lists; the ingest counters (the page turns them
// into rates); the tracked keys against SIEM_MAX_KEYS. The same figures as
// /metrics, as JSON under the read token (the metrics token may differ, and
// the page should not parse Prometheus text).
import type { FastifyPluginAsync } from 'fastify';
import type { Counter } from 'prom-client';
import { bearer } from '../auth';
import type { Config } from '../config';
import type { SiemMetrics } from '../metrics';
import type { SiemState } from '../state/state';

export interface OverviewDeps {
  config: Pick<Readonly<Config>, 'readToken' | 'maxKeys'>;
  state: Pick<SiemState, 'gauges'>;
  metrics: Pick<SiemMetrics, 'received' | 'rejected' | 'senderDropped' | 'ingestRefused'>;
}

async function total(c: Counter): Promise<number> {
  let n = 0;
  for (const v of (await c.get()).values) n += v.value;
  return n;
}

async function byLabel(c: Counter<string>, label: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await c.get()).values) {
    const k = v.labels[label];
    if (k !== undefined) out[String(k)] = (out[String(k)] ?? 0) + v.value;
  }
  return out;
}

export const overviewRoutes: FastifyPluginAsync<OverviewDeps> = async (app, deps) => {
  app.get('/v1/overview', { onRequest: bearer(deps.config.readToken) }, async () => {
    const snap = await deps.state.gauges();
    const { metrics } = deps;
    return {
      generated_at: Date.now(),
      records: {
        received: await total(metrics.received),
        rejected: await byLabel(metrics.rejected, 'reason'),
        sender_dropped: await total(metrics.senderDropped),
        // requests, not records: a refused request's records were never read
        ingest_refused: await byLabel(metrics.ingestRefused, 'status'),
      },
      keys: { tracked: snap.trackedKeys, tracked_ips: snap.trackedIps, max: deps.config.maxKeys },
      services: snap.services.map((s) => ({
        service: s.service,
        window_seconds: s.topRequests.window_seconds,
        window_requests: s.windowRequests,
        unique_ips: s.uniqueIps,
        top_requests: s.topRequests,
        top_errors: s.topErrors,
      })),
    };
  });
};
