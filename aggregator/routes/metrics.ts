// GET /metrics: Prometheus text format, gauges refreshed from one snapshot.
import type { FastifyInstance } from 'fastify';
import { bearer } from '../auth';
import type { IngestDeps } from './ingest';

export function metricsRoutes(app: FastifyInstance, deps: IngestDeps): void {
  app.get('/metrics', { onRequest: bearer(deps.config.metricsToken) }, async (_req, reply) => {
    deps.metrics.fill(await deps.state.gauges());
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });
}
