// GET /metrics: Prometheus text format, gauges refreshed from one snapshot.
import type { FastifyPluginAsync } from 'fastify';
import { bearer } from '../auth';
import type { Config } from '../config';
import type { SiemMetrics } from '../metrics';
import type { SiemState } from '../state/state';

export interface MetricsDeps {
  config: Pick<Readonly<Config>, 'metricsToken'>;
  state: Pick<SiemState, 'gauges'>;
  metrics: Pick<SiemMetrics, 'fill' | 'registry'>;
}

export const metricsRoutes: FastifyPluginAsync<MetricsDeps> = async (app, deps) => {
  app.get('/metrics', { onRequest: bearer(deps.config.metricsToken) }, async (_req, reply) => {
    deps.metrics.fill(await deps.state.gauges());
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });
};
