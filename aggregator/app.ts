// Builds the aggregator (routes, state, metrics, housekeeping) without
// listening, so tests and the CLI can start it on any address.
import Fastify, { LogController, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Config } from './config';
import { createClock, type Clock } from './clock';
import { createMetrics, type SiemMetrics } from './metrics';
import { createState } from './state';
import type { SiemState } from './state/state';
import { registerJsonBody } from './body';
import { TIMEOUT_ERROR, clientErrorHandler, guardConnections } from './connections';
import { RejectionLog } from './rejections';
import { RefusalLog } from './refusals';
import { clientAddress } from './trust-proxy';
import { IgnoredSettingsLog, SettingsChangeLog } from './settings-log';
import { SiemError, errors, statusOf } from './errors';
import { RECORDS_URL, ingestRoutes } from './routes/ingest';
import { KONG_LOG_URL, kongLogRoutes } from './routes/kong-log';
import { queryRoutes } from './routes/query';
import { metricsRoutes } from './routes/metrics';
import { overviewRoutes } from './routes/overview';
import { settingsRoutes } from './routes/settings';
import { uiRoutes } from './routes/ui';
import { registerPersistence, type Persistence } from './persistence';
import { createBatchLedger } from './batch-ledger';
import { registerDecisions, type Decisions } from './decisions';
import { escapeControls } from '../common/terminal';

const INGEST_URLS: ReadonlySet<string> = new Set([RECORDS_URL, KONG_LOG_URL]);

export interface BuildOptions {
  /** injected wall clock, for tests */
  wallNow?: () => number;
  logger?: FastifyServerOptions['logger'];
}

export interface Siem {
  app: FastifyInstance;
  state: SiemState;
  metrics: SiemMetrics;
  clock: Clock;
  config: Readonly<Config>;
  persistence: Persistence;
  decisions: Decisions;
}

export function buildApp(config: Readonly<Config>, opts: BuildOptions = {}): Siem {
  const app = Fastify({
    // Log lines carry client-set strings (rejection samples, service names) and are read in
    // terminals: DEL, C1 and bidi controls escaped as JSON escapes C0 (a raw U+009B is a CSI to xterm).
    logger: opts.logger ?? { level: config.logLevel, stream: { write: (line: string) => process.stdout.write(escapeControls(line)) } },
    bodyLimit: config.maxBodyBytes,
    // One log line per request would dwarf the traffic it describes.
    logController: new LogController({ disableRequestLogging: true }),
    // Slow or stuck clients must not hold sockets forever.
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: 2 * config.requestTimeoutMs,
    keepAliveTimeout: config.idleTimeoutMs,
    // node checks request timeouts on this period (30 s by default)
    http: { connectionsCheckingInterval: Math.min(30_000, Math.max(50, config.headersTimeoutMs >> 2)) },
    // SIEM_TRUST_PROXY: whose X-Forwarded-For req.ip follows (read for bouncer stream positions and the refusal log)
    trustProxy: config.trustProxy.length > 0 ? [...config.trustProxy] : false,
    clientErrorHandler,
  });
  app.server.maxConnections = config.maxConnections;
  guardConnections(
    app,
    {
      maxPerAddress: config.maxConnectionsPerIp,
      requestTimeoutMs: config.requestTimeoutMs,
      headersTimeoutMs: config.headersTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
    },
    // a body not whole in time is a refusal as well (408), written past onResponse
    (req) => refused(req, 408, TIMEOUT_ERROR),
  );
  const clock = createClock(config.clock, opts.wallNow, config.maxClockSkewMs);
  const metrics = createMetrics();
  const settingsChanges = new SettingsChangeLog(app.log);
  const state = createState(config, clock, (table) => metrics.evictions.inc({ table }), {
    onError: () => metrics.stateErrors.inc(),
    onSettingsChange: (service, before, after) => settingsChanges.note(service, before, after),
  });
  const batches = createBatchLedger(config.maxBatchIds, opts.wallNow ?? Date.now, () => metrics.evictions.inc({ table: 'batch' }));
  const deps = { config, state, metrics, batches, rejections: new RejectionLog(app.log), ignoredSettings: new IgnoredSettingsLog(app.log) };

  registerJsonBody(app, config.maxBodyBytes);
  /** the error each refused request was answered with, for the refusal log */
  const refusalMessages = new WeakMap<FastifyRequest, string>();
  app.setErrorHandler((err, req, reply) => {
    const status = statusOf(err as { statusCode?: number; validation?: unknown });
    if (status >= 500) req.log.error({ err }, 'request failed');
    let message = err instanceof SiemError || status < 500 ? (err as Error).message : 'internal error';
    const code = (err as { code?: string }).code;
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = errors.bodyTooLarge(config.maxBodyBytes).message;
    // fastify's own wording names the type sent, not the one to send
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      message = errors.unsupportedMediaType(String(req.headers['content-type'] ?? '(none)')).message;
    refusalMessages.set(req, message);
    return reply.code(status).send({ error: message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}` }));

  // A refused ingest request leaves no trace in the record counters: a stale
  // ingest_token or an oversized batch would be seen only in Kong's error log.
  // The label is the status, 400-599: at most 200 series, whatever is sent.
  // The log line names the senders: a gateway's address, or someone else's.
  const refusals = new RefusalLog(app.log);
  const refused = (req: FastifyRequest, status: number, error: string | undefined) => {
    const route = req.routeOptions.url ?? '';
    if (status < 400 || status > 599 || !INGEST_URLS.has(route)) return;
    metrics.ingestRefused.inc({ status: String(status) });
    refusals.note(status, route, () => clientAddress(req), error);
  };
  app.addHook('onResponse', async (req, reply) => refused(req, reply.statusCode, refusalMessages.get(req)));

  // each route set is a plugin with only the dependencies it uses
  void app.register(ingestRoutes, deps);
  void app.register(kongLogRoutes, deps);
  void app.register(queryRoutes, deps);
  void app.register(metricsRoutes, deps);
  void app.register(overviewRoutes, deps);
  void app.register(settingsRoutes, deps);
  void app.register(uiRoutes);
  const decisions = registerDecisions(app, { ...deps, wallNow: opts.wallNow ?? Date.now });

  // one sweep at a time: a slow one (a shared backend) is not stacked
  let sweeping: Promise<void> | undefined;
  const sweep = setInterval(() => {
    sweeping ??= state
      .sweep()
      .catch((err) => app.log.error({ err }, 'sweep failed'))
      .finally(() => {
        sweeping = undefined;
      });
  }, config.sweepIntervalMs);
  sweep.unref();
  app.addHook('onClose', async () => {
    clearInterval(sweep);
    await sweeping;
    await state.close?.();
    settingsChanges.flush();
  });
  app.addHook('onReady', async () => {
    if (!config.ingestToken) app.log.warn('SIEM_INGEST_TOKEN is not set: anyone who reaches this port can post records');
    // the flagged and top gauges name the IPs and credentials the read token guards
    if (config.readToken && !config.metricsToken)
      app.log.warn(
        'SIEM_READ_TOKEN is set but SIEM_METRICS_TOKEN is not: /metrics is open and lists every flagged IP and credential and the top IPs',
      );
    if (config.settingsSource === 'locked') {
      app.log.info(
        { settings_file: config.settingsFile, services: config.lockedSettings.size },
        'detection settings locked (SIEM_SETTINGS=locked): settings in batches are ignored',
      );
    }
  });

  const persistence = registerPersistence(app, config, state, clock);

  return { app, state, metrics, clock, config, persistence, decisions };
}
