// The decision endpoints: CrowdSec's bouncer API (stream and live, X-Api-Key)
// and the operator's (add, delete, listing; bearer token).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors, isProgrammingError, SiemError } from '../errors';
import { clientAddress } from '../trust-proxy';
import { parseDuration } from './duration';
import { requireBearer, requireBouncer } from './auth';
import { DecisionError, type DecisionService } from './service';
import type { DecisionMetrics } from './metrics';

export interface DecisionRouteDeps {
  service: DecisionService;
  metrics: DecisionMetrics;
  adminToken: string | undefined;
  readToken: string | undefined;
  /** the store is the shared Redis: its failures are answered 503, as every other route answers them */
  shared: boolean;
}

const bouncerOfReq = (req: FastifyRequest) => (req as FastifyRequest & { bouncer?: string }).bouncer as string;

export function decisionRoutes(app: FastifyInstance, deps: DecisionRouteDeps): void {
  const { service } = deps;
  // A decision's own refusal keeps its status; on Redis any other failure but a bug is the
  // store's (connection lost, OOM): 503 with the reason, as ingest and /v1/findings answer,
  // not a bare 500 that tells a bouncer or an operator nothing.
  const asSiem = (err: unknown): unknown => {
    if (err instanceof DecisionError) return new SiemError('SIEM_DECISION', err.statusCode, err.message);
    if (deps.shared && !(err instanceof SiemError) && !isProgrammingError(err)) return errors.stateUnavailable((err as Error).message);
    return err;
  };
  const guard = <T>(p: Promise<T>): Promise<T> => p.catch((e) => Promise.reject(asSiem(e)));
  const bouncer = requireBouncer(service.config.bouncerKeys);
  const admin = requireBearer([deps.adminToken]);
  // the listing is as readable as the findings (read token, open when unset) and to the admin
  const reader = deps.readToken ? requireBearer([deps.readToken, deps.adminToken]) : async () => {};

  app.route<{ Querystring: { startup?: string; scopes?: string } }>({
    method: ['GET', 'HEAD'],
    url: '/v1/decisions/stream',
    onRequest: bouncer,
    schema: {
      querystring: {
        type: 'object',
        properties: { startup: { type: 'string', maxLength: 8 }, scopes: { type: 'string', maxLength: 256 } },
      },
    },
    handler: async (req, reply) => {
      // HEAD answers nothing and, as in CrowdSec, leaves the position alone
      if (req.method === 'HEAD') return reply.code(200).send();
      // one position per key and client address (behind trusted proxies: X-Forwarded-For's, SIEM_TRUST_PROXY)
      const answer = await guard(service.stream(bouncerOfReq(req), req.query.startup === 'true', req.query.scopes, clientAddress(req)));
      deps.metrics.pulls.inc();
      return reply.code(200).type('application/json').send(answer);
    },
  });

  app.route<{ Querystring: { ip?: string; range?: string; contains?: boolean; scopes?: string } }>({
    method: ['GET', 'HEAD'],
    url: '/v1/decisions',
    onRequest: bouncer,
    schema: {
      querystring: {
        type: 'object',
        properties: {
          ip: { type: 'string', maxLength: 64 },
          range: { type: 'string', maxLength: 64 },
          contains: { type: 'boolean' },
          scopes: { type: 'string', maxLength: 256 },
        },
      },
    },
    handler: async (req, reply) => {
      const found = await guard(service.live(req.query));
      if (req.method === 'HEAD') return reply.code(200).send();
      return reply.code(200).type('application/json').send(found);
    },
  });

  app.post<{ Body: { value: string; duration?: string; reason?: string } }>(
    '/v1/decisions',
    {
      onRequest: admin,
      schema: {
        body: {
          type: 'object',
          required: ['value'],
          additionalProperties: false,
          properties: {
            value: { type: 'string', minLength: 1, maxLength: 64 },
            duration: { type: 'string', minLength: 1, maxLength: 32 },
            reason: { type: 'string', maxLength: 256 },
          },
        },
      },
    },
    async (req, reply: FastifyReply) => {
      const text = req.body.duration ?? '4h';
      const ms = parseDuration(text);
      if (ms === undefined) throw new SiemError('SIEM_DECISION', 400, `"${text}" is not a duration (e.g. 4h, 30m, 1h30m)`);
      const d = await guard(service.add(req.body.value, ms, req.body.reason));
      return reply.code(201).send(d);
    },
  );

  app.delete<{ Params: { id: string } }>('/v1/decisions/:id', { onRequest: admin }, async (req, reply) => {
    const id = Number(req.params.id);
    if (!/^\d{1,15}$/.test(req.params.id)) throw new SiemError('SIEM_DECISION', 400, 'decision id must be a positive integer');
    if (!(await guard(service.remove(id)))) throw new SiemError('SIEM_DECISION', 404, `no active decision ${id}`);
    return reply.code(204).send();
  });

  app.get('/v1/admin/decisions', { onRequest: reader }, async (_req, reply) =>
    reply.type('application/json').send(await guard(service.listJson(`{"generated_at":${Date.now()},"decisions":`, '}'))),
  );
}
