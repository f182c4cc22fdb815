// Wires the decision feed into the app: the store (this process, or the
// shared Redis), the reconcile timer that follows the findings, the routes,
// the metrics and, for the in-memory store, the file beside SIEM_STATE_FILE.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config';
import type { SiemState } from '../state/state';
import type { SiemMetrics } from '../metrics';
import { connectRedis, parseRedisState, type RedisClient } from '../state/redis/client';
import { MemoryDecisionRepo, type DecisionRepo } from './repo';
import { RedisDecisionRepo } from './redis-repo';
import { DecisionService } from './service';
import { registerDecisionMetrics } from './metrics';
import { decisionRoutes } from './routes';
import { removeLeftovers } from '../atomic-write';
import { decisionsFileOf, loadDecisions, saveDecisions } from './persist';

/** how often an aggregator on the shared store brings its set forward to the other aggregators' writes */
export const FOLLOW_MS = 1000;

export interface Decisions {
  service: DecisionService;
  /** one reconcile round now, unconditionally (tests, an operator's call) */
  reconcileNow(): Promise<number>;
  /** the timer's round: reconciles unless another aggregator of the shared store took this round; returns whether it did */
  round(): Promise<boolean>;
  /** write the decisions file now (in-memory store with SIEM_STATE_FILE only) */
  save(): Promise<void>;
}

export function registerDecisions(
  app: FastifyInstance,
  deps: { config: Readonly<Config>; state: SiemState; metrics: SiemMetrics; wallNow: () => number },
): Decisions {
  const { config, state } = deps;
  // the change log reaches back two full turnovers of the set (a reader further behind reads it whole)
  const logKeep = Math.max(1000, 2 * config.decisions.max);
  const repo: DecisionRepo =
    config.state === 'memory' ? new MemoryDecisionRepo(logKeep) : new RedisDecisionRepo(decisionClient(app, config.state), logKeep);
  const service = new DecisionService(repo, config.decisions, deps.wallNow);
  const metrics = registerDecisionMetrics(deps.metrics.registry, () => service);
  decisionRoutes(app, {
    service,
    metrics,
    adminToken: config.decisions.adminToken,
    readToken: config.readToken,
    shared: config.state !== 'memory',
  });

  const policyTypes = [...config.decisions.policy.keys()];
  // Once per start, before this aggregator's first round (taken or not), until it succeeds:
  // the bans this start's SIEM_ALLOWLIST covers go, the restored and the shared ones alike.
  let allowlistDone = false;
  const dropAllowlisted = async (): Promise<void> => {
    if (allowlistDone) return;
    const gone = await service.dropAllowlisted();
    allowlistDone = true;
    if (gone.length) app.log.warn({ values: gone.slice(0, 20), count: gone.length }, 'decisions: allowlisted (SIEM_ALLOWLIST), taken back');
  };
  let running: Promise<number> | undefined;
  let lastError = '';
  const reconcileNow = (): Promise<number> => {
    // only the policy's types: credential findings never ban, and counting them
    // would cost a pass over every credential candidate per tick, and let stronger
    // credential findings push IP ones past SIEM_MAX_FINDINGS (no ban at all)
    running ??= dropAllowlisted()
      .then(() => state.findings({ types: policyTypes }))
      .then((f) => service.reconcile(f))
      .finally(() => (running = undefined));
    return running;
  };
  // a round lasts a little less than the timer's period, so that its taker's next tick finds it over
  const roundMs = Math.max(10, Math.floor(0.8 * config.sweepIntervalMs));
  const round = async (): Promise<boolean> => {
    await dropAllowlisted();
    if (!(await repo.claimRound(roundMs))) return false;
    await reconcileNow();
    return true;
  };
  const tick = () =>
    round().then(
      () => (lastError = ''),
      (err) => {
        // one line per distinct failure, not one per tick
        const msg = (err as Error).message;
        if (msg !== lastError) app.log.warn({ err: msg }, 'decisions: reconcile failed');
        lastError = msg;
      },
    );
  let timer: NodeJS.Timeout | undefined;
  // on the shared store other aggregators write too: follow their changes in
  // the background, one read at a time, so a bouncer's pull finds the set current
  let follower: NodeJS.Timeout | undefined;
  let following: Promise<void> | undefined;
  const follow = () => {
    following ??= service
      .follow()
      .catch(() => undefined) // the link's failure is logged once by the client; readers report theirs
      .finally(() => (following = undefined));
  };
  app.addHook('onReady', async () => {
    timer = setInterval(tick, config.sweepIntervalMs);
    timer.unref();
    if (config.state !== 'memory') {
      follower = setInterval(follow, FOLLOW_MS);
      follower.unref();
    }
    if (config.decisions.bouncerKeys.length === 0)
      app.log.info('SIEM_BOUNCER_KEYS is not set: the bouncer endpoints answer 403 to everyone');
  });

  const file = config.state === 'memory' && config.stateFile ? decisionsFileOf(config.stateFile) : undefined;
  const mem = repo instanceof MemoryDecisionRepo ? repo : undefined;
  let saving: Promise<void> | undefined;
  const save = async (): Promise<void> => {
    if (!file || !mem) return;
    saving ??= saveDecisions(mem, file)
      .then((n) => app.log.info({ file, decisions: n }, 'decisions written'))
      .catch((err) => app.log.error({ err, file }, 'decisions file failed'))
      .finally(() => (saving = undefined));
    return saving;
  };
  if (file && mem) {
    let snapTimer: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      const leftovers = await removeLeftovers(file);
      if (leftovers.length) app.log.warn({ file, leftovers }, 'removed temp files a killed writer left');
      const r = await loadDecisions(mem, file);
      if (r.status === 'restored') {
        app.log.info({ file, decisions: r.decisions }, 'decisions restored');
        allowlistDone = false; // a round before the restore checked the set it replaced
      } else if (r.status === 'ignored') app.log.warn({ file, reason: r.reason }, 'decisions file ignored');
      // saves start once the restore is done: one while the file is read would write the empty set over it
      snapTimer = setInterval(() => void save(), config.snapshotIntervalMs);
      snapTimer.unref();
    });
    app.addHook('onClose', async () => clearInterval(snapTimer));
  }
  app.addHook('onClose', async () => {
    if (timer) clearInterval(timer);
    if (follower) clearInterval(follower);
    await running?.catch(() => 0);
    await following;
    await save();
    await repo.close();
  });
  return { service, reconcileNow, round, save };
}

/** The decisions' own Redis link. Without an 'error' listener ioredis prints
 * "Unhandled error event" for every failed reconnect; a link change is logged
 * once here, and the calls that fail meanwhile report themselves. */
function decisionClient(app: FastifyInstance, url: string): RedisClient {
  const client = connectRedis(parseRedisState(url));
  let last = '';
  client.on('error', (err: Error) => {
    if (err.message === last) return;
    last = err.message;
    app.log.warn({ err }, 'decisions: Redis link failed');
  });
  client.on('ready', () => (last = ''));
  return client;
}
