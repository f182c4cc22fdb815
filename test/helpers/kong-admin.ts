// A stand-in for Kong's Admin API (a real Kong is not available to the
// tests), serving one ip-restriction plugin under /plugins/{id}. It checks
// each request against Kong's documented Admin API and plugin schema:
// GET and PATCH /plugins/{id} only; PATCH bodies are JSON with only plugin
// entity fields; config holds only ip-restriction's fields; allow/deny are
// arrays of IPs or CIDRs (typedefs.ip_or_cidr); a PATCH merges into the
// entity and must leave "at least one of config.allow, config.deny"
// non-empty (an empty array counts as empty, as in Kong's schema). Answers
// are shaped as Kong's: the entity on 200, {"message": ...} on errors.
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import ipaddr from 'ipaddr.js';

export interface KongPluginEntity {
  id: string;
  name: string;
  created_at: number;
  updated_at: number;
  route: null | { id: string };
  service: null | { id: string };
  consumer: null;
  protocols: string[];
  enabled: boolean;
  tags: null | string[];
  instance_name: null | string;
  config: { allow: string[] | null; deny: string[] | null; status: number | null; message: string | null };
}

export interface StandInKong {
  url: string;
  plugin: KongPluginEntity;
  /** every request: method, path, body, and the verdict the stand-in gave */
  log: { method: string; path: string; body: unknown; status: number; problem?: string }[];
  close(): Promise<void>;
}

const ENTITY_FIELDS = new Set([
  'name',
  'enabled',
  'config',
  'protocols',
  'tags',
  'route',
  'service',
  'consumer',
  'instance_name',
  'id',
  'created_at',
  'updated_at',
]);
const CONFIG_FIELDS = new Set(['allow', 'deny', 'status', 'message']);

function ipOrCidr(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  try {
    if (v.includes('/')) return ipaddr.parseCIDR(v) !== undefined;
    return ipaddr.isValid(v);
  } catch {
    return false;
  }
}

const nonEmpty = (v: unknown) => v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0);

export async function startStandInKong(initial: Partial<KongPluginEntity['config']> = { deny: ['192.0.2.255'] }): Promise<StandInKong> {
  const id = '0e5b9f2c-3d1a-4f7e-9a61-7c2b8d4e5f60';
  const plugin: KongPluginEntity = {
    id,
    name: 'ip-restriction',
    created_at: 1_717_000_000,
    updated_at: 1_717_000_000,
    route: null,
    service: null,
    consumer: null,
    protocols: ['grpc', 'grpcs', 'http', 'https'],
    enabled: true,
    tags: null,
    instance_name: null,
    config: { allow: null, deny: null, status: null, message: null, ...initial },
  };
  const log: StandInKong['log'] = [];
  const app: FastifyInstance = Fastify({ logger: false });
  const violation = (reply: FastifyReply, entry: StandInKong['log'][number], problem: string) => {
    entry.status = 400;
    entry.problem = problem;
    return reply.code(400).send({ code: 2, name: 'schema violation', message: `schema violation (${problem})`, fields: {} });
  };
  app.all('/*', async (req, reply) => {
    const path = req.url.split('?')[0] as string;
    const entry = { method: req.method, path, body: req.body as unknown, status: 200 } as StandInKong['log'][number];
    log.push(entry);
    const m = /^\/plugins\/([^/]+)$/.exec(path);
    if (!m || !['GET', 'PATCH'].includes(req.method)) {
      entry.status = 405;
      entry.problem = `the client may only GET or PATCH /plugins/{id}, not ${req.method} ${path}`;
      return reply.code(405).send({ message: 'Method not allowed' });
    }
    if (m[1] !== id) {
      entry.status = 404;
      return reply.code(404).send({ message: 'Not found' });
    }
    if (req.method === 'GET') return plugin;
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
      return violation(reply, entry, 'PATCH body must be application/json');
    const body = req.body as Record<string, unknown>;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return violation(reply, entry, 'body is not an object');
    for (const k of Object.keys(body)) if (!ENTITY_FIELDS.has(k)) return violation(reply, entry, `${k}: unknown field`);
    if (body.name !== undefined && body.name !== 'ip-restriction') return violation(reply, entry, "name: cannot change a plugin's name");
    if (body.enabled !== undefined && typeof body.enabled !== 'boolean') return violation(reply, entry, 'enabled: expected a boolean');
    const next = { ...plugin, config: { ...plugin.config } };
    if (body.enabled !== undefined) next.enabled = body.enabled as boolean;
    if (body.config !== undefined) {
      const c = body.config as Record<string, unknown>;
      if (!c || typeof c !== 'object' || Array.isArray(c)) return violation(reply, entry, 'config: expected a record');
      for (const k of Object.keys(c)) if (!CONFIG_FIELDS.has(k)) return violation(reply, entry, `config.${k}: unknown field`);
      for (const k of ['allow', 'deny'] as const) {
        const v = c[k];
        if (v === undefined) continue;
        if (v !== null && (!Array.isArray(v) || !v.every(ipOrCidr)))
          return violation(reply, entry, `config.${k}: expected an array of IPs or CIDRs`);
        next.config[k] = v as string[] | null;
      }
    }
    if (!nonEmpty(next.config.allow) && !nonEmpty(next.config.deny)) {
      return violation(reply, entry, "at least one of these fields must be non-empty: 'config.allow', 'config.deny'");
    }
    next.updated_at = Math.floor(Date.now() / 1000);
    Object.assign(plugin, next);
    return plugin;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return { url: `http://127.0.0.1:${addr.port}`, plugin, log, close: () => app.close() };
}
