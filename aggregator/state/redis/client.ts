// Connection to the shared state: one Redis, or a Redis Cluster given by a
// list of seed nodes (SIEM_STATE=redis://a:6379,b:6379 or ...?cluster=1).
// ioredis reconnects forever with a capped delay; commands are not queued
// while it is down (enableOfflineQueue: false), so an ingest fails at once
// with 503 and the sender keeps the batch, instead of the aggregator piling
// batches up in memory.
import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';

export interface RedisTarget {
  cluster: boolean;
  nodes: { host: string; port: number }[];
  db: number;
  tls: boolean;
  username?: string;
  password?: string;
}

/** Parse SIEM_STATE: `redis[s]://[user:pass@]host:port[/db][?cluster=1]`, seeds separated by commas. */
export function parseRedisState(state: string): RedisTarget {
  const parts = state
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  const first = parts[0];
  const m = first === undefined ? null : /^(rediss?):\/\//.exec(first);
  if (!first || !m) throw new Error(`SIEM_STATE=${state}: expected redis://host:port[/db] or rediss://...`);
  const scheme = m[1] as string;
  const urls = parts.map((p) => {
    try {
      return new URL(/^rediss?:\/\//.test(p) ? p : `${scheme}://${p}`);
    } catch {
      throw new Error(`SIEM_STATE: "${p}" is not a Redis URL`);
    }
  });
  const u = urls[0] as URL;
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new Error(`SIEM_STATE: database "${dbText}" is not a number`);
  const flag = u.searchParams.get('cluster');
  const cluster = urls.length > 1 || flag === '1' || flag === 'true';
  if (cluster && db !== 0) throw new Error('SIEM_STATE: Redis Cluster has only database 0');
  return {
    cluster,
    nodes: urls.map((x) => ({ host: x.hostname.replace(/^\[|\]$/g, ''), port: x.port === '' ? 6379 : Number(x.port) })),
    db,
    tls: scheme === 'rediss',
    username: u.username === '' ? undefined : decodeURIComponent(u.username),
    password: u.password === '' ? undefined : decodeURIComponent(u.password),
  };
}

export type RedisClient = Redis | Cluster;

/** Reconnect delay: doubling from 50 ms, capped at 2 s, never giving up. */
const retryStrategy = (attempt: number): number => Math.min(2000, 50 * 2 ** Math.min(6, attempt));

export function connectRedis(t: RedisTarget): RedisClient {
  const common: RedisOptions = {
    username: t.username,
    password: t.password,
    tls: t.tls ? {} : undefined,
    enableOfflineQueue: false,
    // a command in flight when the link drops fails rather than waiting for
    // the reconnect: the batch gets 503 and its sender retries it
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    retryStrategy,
    // the commands of one batch, issued in one tick, go out as one pipeline
    enableAutoPipelining: true,
  };
  if (!t.cluster) {
    const node = t.nodes[0] as { host: string; port: number };
    return new Redis({ ...common, host: node.host, port: node.port, db: t.db });
  }
  const opts: ClusterOptions = {
    redisOptions: common,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    clusterRetryStrategy: retryStrategy,
    // a slot map gone stale unnoticed (see healRedirect) is fixed within this
    slotsRefreshInterval: 5000,
  };
  return new Cluster(t.nodes, opts);
}

/**
 * After a failed command: on a Cluster, a MOVED or ASK error handed back to
 * us means the client's slot map is stale. ioredis's autopipelining sends
 * one pipeline per node and, when only some of its commands answer MOVED,
 * returns the errors without refreshing the map (ioredis issue 2075), so
 * every later batch went to the old master and failed. A refresh here (one
 * at a time: ioredis joins concurrent ones) makes the sender's retry land.
 */
export function healRedirect(r: RedisClient, err: unknown): void {
  if (r instanceof Cluster && /^(MOVED|ASK) /.test((err as Error)?.message ?? '')) r.refreshSlotsCache();
}
