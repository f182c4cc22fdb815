// GET /metrics: Prometheus text format, gauges refreshed from one snapshot.
import type { FastifyPluginAsync } from 'fastify';
import { bearer } from '../auth';
import type { Config } from '../config';
import type { SiemMetrics } from '../metrics';
import { stateHealth, type SiemState } from '../state/state';

export interface MetricsDeps {
  config: Pick<Readonly<Config>, 'metricsToken'>;
  state: Pick<SiemState, 'gauges' | 'health' | 'probe'>;
  metrics: Pick<SiemMetrics, 'fill' | 'registry' | 'stateUp'>;
}

export const metricsRoutes: FastifyPluginAsync<MetricsDeps> = async (app, deps) => {
  app.get('/metrics', { onRequest: bearer(deps.config.metricsToken) }, async (_req, reply) => {
    // as /healthz sees it (a Redis refusing writes is down too): the gauges below are empty then
    const [health, snap] = await Promise.all([stateHealth(deps.state), deps.state.gauges()]);
    deps.metrics.stateUp.set(health.ok ? 1 : 0);
    deps.metrics.fill(snap);
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });
};
