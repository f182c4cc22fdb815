// Read-only endpoints: findings, top lists, health (docs/api.md). They never
// change state.
import type { FastifyPluginAsync } from 'fastify';
import { bearer } from '../auth';
import type { Config } from '../config';
import { FINDING_TYPES, type FindingType } from '../rules/registry';
import { stateHealth, type SiemState } from '../state/state';

export interface QueryDeps {
  config: Pick<Readonly<Config>, 'readToken'>;
  state: Pick<SiemState, 'findings' | 'top' | 'health' | 'probe'>;
}

export const queryRoutes: FastifyPluginAsync<QueryDeps> = async (app, deps) => {
  const auth = bearer(deps.config.readToken);

  app.get<{ Querystring: { type?: FindingType; service?: string } }>(
    '/v1/findings',
    {
      onRequest: auth,
      schema: {
        querystring: {
          type: 'object',
          properties: { type: { type: 'string', enum: [...FINDING_TYPES] }, service: { type: 'string', maxLength: 256 } },
        },
      },
    },
    async (req) => {
      const findings = await deps.state.findings({ type: req.query.type, service: req.query.service });
      return { generated_at: Date.now(), findings };
    },
  );

  app.get<{ Querystring: { service: string; by: 'requests' | 'errors'; n?: number } }>(
    '/v1/top',
    {
      onRequest: auth,
      schema: {
        querystring: {
          type: 'object',
          required: ['service'],
          properties: {
            service: { type: 'string', minLength: 1, maxLength: 256 },
            by: { type: 'string', enum: ['requests', 'errors'], default: 'requests' },
            n: { type: 'integer', minimum: 1, maximum: 100 },
          },
        },
      },
    },
    async (req) => deps.state.top(req.query.service, req.query.by, req.query.n),
  );

  app.get('/healthz', async (_req, reply) => {
    // a shared state backend that is down or refuses writes: say why (ingest answers 503 meanwhile)
    const h = await stateHealth(deps.state);
    return h.ok ? { status: 'ok' } : reply.code(503).send({ status: 'unavailable', reason: h.reason });
  });
};
