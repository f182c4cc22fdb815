// Synthetic Kong traffic: log objects of the shape `kong.log.serialize()`
// gives in Kong 3.x (what file-log writes and http-log posts), and a scenario
// of benign traffic with each of the five attack patterns. Used by the demo,
// the replay benchmark and the tests, so all three exercise the same shapes.
import { createHash } from 'node:crypto';

export interface Request {
  ts: number;
  ip: string;
  status: number;
  service: string;
  /** raw credential id (`authenticated_entity.id`) */
  credential?: string;
  consumer?: string;
  method?: string;
  path?: string;
  latencyMs?: number;
}

const uuids = new Map<string, string>();

/** A deterministic UUID-looking id, so generated logs are reproducible (cached: few distinct seeds). */
function uuidOf(seed: string): string {
  let id = uuids.get(seed);
  if (id === undefined) {
    const h = createHash('sha1').update(seed).digest('hex');
    id = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
    if (uuids.size < 10_000) uuids.set(seed, id);
  }
  return id;
}

let requestSeq = 0;

/** Kong's request id: 32 hex digits, unique per request. */
function requestId(ts: number): string {
  return (ts.toString(16) + (requestSeq++).toString(16).padStart(8, '0')).padStart(32, '0');
}

const WORKSPACE = uuidOf('workspace:default');

/** The serialized log object Kong 3.x writes for one request. */
export function kongLogObject(r: Request): Record<string, unknown> {
  const serviceId = uuidOf(`service:${r.service}`);
  const routeName = `${r.service}-route`;
  const path = r.path ?? `/${r.service}/items`;
  const latency = r.latencyMs ?? 12;
  const log: Record<string, unknown> = {
    request: {
      id: requestId(r.ts),
      uri: path,
      url: `http://api.example.com:8000${path}`,
      size: 212,
      querystring: {},
      method: r.method ?? 'GET',
      headers: {
        host: 'api.example.com',
        'user-agent': 'curl/8.5.0',
        accept: '*/*',
      },
      tls: null,
    },
    upstream_uri: path,
    upstream_status: String(r.status),
    response: {
      status: r.status,
      size: 934,
      headers: { 'content-type': 'application/json', 'content-length': '640', via: 'kong/3.9.0', 'x-kong-proxy-latency': '1' },
    },
    route: {
      id: uuidOf(`route:${routeName}`),
      name: routeName,
      paths: [`/${r.service}`],
      protocols: ['http', 'https'],
      strip_path: true,
      preserve_host: false,
      regex_priority: 0,
      https_redirect_status_code: 426,
      path_handling: 'v0',
      request_buffering: true,
      response_buffering: true,
      created_at: 1717790000,
      updated_at: 1717790000,
      ws_id: WORKSPACE,
      service: { id: serviceId },
    },
    service: {
      id: serviceId,
      name: r.service,
      host: `${r.service}.internal`,
      port: 8080,
      protocol: 'http',
      path: '/',
      retries: 5,
      connect_timeout: 60000,
      read_timeout: 60000,
      write_timeout: 60000,
      enabled: true,
      created_at: 1717790000,
      updated_at: 1717790000,
      ws_id: WORKSPACE,
    },
    workspace: WORKSPACE,
    workspace_name: 'default',
    tries: [{ balancer_start: r.ts, balancer_latency: 0, ip: '10.0.0.12', port: 8080 }],
    latencies: { kong: 1, proxy: Math.max(0, latency - 1), request: latency, receive: 0 },
    client_ip: r.ip,
    started_at: r.ts,
    source: r.status === 401 || r.status === 403 || r.status === 429 ? 'kong' : 'upstream',
  };
  if (r.credential !== undefined) log.authenticated_entity = { id: r.credential };
  if (r.consumer !== undefined) {
    log.consumer = { id: uuidOf(`consumer:${r.consumer}`), username: r.consumer, created_at: 1717790000, ws_id: WORKSPACE };
  }
  return log;
}

/** mulberry32: a small seeded PRNG; Math.random cannot be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The attackers of the scenario, so the demo and the tests know what to expect. */
export const ATTACK = Object.freeze({
  service: 'orders',
  /** top_ip (and flood_ip in the demo): floods with successful requests */
  floodIp: '203.0.113.10',
  /** error_ip: a scanner, mostly 404s */
  errorIp: '198.51.100.23',
  /** auth_bruteforce: a few 401s, slowly */
  bruteIp: '192.0.2.60',
  /** credential_ips: one credential from several IPs */
  sharedCredential: 'key-alice-7f3a',
  sharedConsumer: 'alice',
  sharedIps: ['192.0.2.31', '192.0.2.32', '192.0.2.33', '192.0.2.34', '192.0.2.35'],
  /** failure_spike: successes, then failures */
  spikeIp: '192.0.2.77',
  /** error_ip early in long scenarios only, lapsed by their end */
  earlyErrorIp: '198.51.100.99',
});

export interface ScenarioOptions {
  /** time of the newest record, ms since epoch */
  endMs: number;
  /** benign records, spread over `spanMs` before endMs */
  benign: number;
  spanMs: number;
  seed?: number;
  /** IP of the spike attacker (the demo rotates it between waves) */
  spikeIp?: string;
  /** requests of the top IP in the last 40 s (400: on top, under flood_min_requests) */
  floodRequests?: number;
}

/**
 * Benign traffic on two services from many IPs, each consumer on its own IP,
 * plus the five attacks in the last minute before `endMs` (the spike's
 * successes 90 s earlier, in its baseline period), sized to meet the default
 * settings with margin and no attacker meeting a rule it is not meant to.
 * Returned in the order Kong's log phase would write them: by ts + latency.
 */
export function scenario(o: ScenarioOptions): Request[] {
  const rnd = prng(o.seed ?? 1);
  const out: Request[] = [];
  const start = o.endMs - o.spanMs;
  const services = ['orders', 'billing'];
  const clients = 400;
  for (let i = 0; i < o.benign; i++) {
    const c = Math.floor(rnd() * clients);
    const ip = `10.${1 + (c >> 8)}.${c & 255}.${1 + (c % 7)}`;
    const roll = rnd();
    const r: Request = {
      ts: start + Math.floor(rnd() * o.spanMs),
      ip,
      status: roll < 0.02 ? 404 : roll < 0.03 ? 500 : 200,
      service: services[c % 2] as string,
      latencyMs: 5 + Math.floor(rnd() * 80),
    };
    if (c % 3 === 0) {
      r.credential = `key-client-${c}`;
      r.consumer = `client-${c}`;
    }
    out.push(r);
  }
  const t = o.endMs;
  const svc = ATTACK.service;
  const spikeIp = o.spikeIp ?? ATTACK.spikeIp;
  // top_ip: 400 requests in the last 40 s (flood_ip too when there are 1000 or more)
  const flood = o.floodRequests ?? 400;
  for (let i = 0; i < flood; i++)
    out.push({ ts: t - 40_000 + Math.floor((i * 40_000) / flood), ip: ATTACK.floodIp, status: 200, service: svc, latencyMs: 3 });
  // error_ip: 60 failures out of 64 in the last 30 s, a scan for paths
  for (let i = 0; i < 64; i++) {
    out.push({
      ts: t - 30_000 + i * 450,
      ip: ATTACK.errorIp,
      status: i % 16 === 0 ? 200 : 404,
      service: svc,
      path: `/orders/${i.toString(36)}`,
      latencyMs: 2,
    });
  }
  // auth_bruteforce: 9 refused logins in the last 45 s, one every 5 s: under
  // error_min and never 10 within 10 s, so it is no error_ip
  for (let i = 0; i < 9; i++) {
    out.push({
      ts: t - 45_000 + i * 5_000,
      ip: ATTACK.bruteIp,
      status: 401,
      service: svc,
      method: 'POST',
      path: '/orders/login',
      latencyMs: 4,
    });
  }
  // credential_ips: one credential from five IPs in the last 50 s
  ATTACK.sharedIps.forEach((ip, k) => {
    for (let i = 0; i < 3; i++) {
      out.push({
        ts: t - 50_000 + k * 9_000 + i * 1_000,
        ip,
        status: 200,
        service: svc,
        credential: ATTACK.sharedCredential,
        consumer: ATTACK.sharedConsumer,
      });
    }
  });
  // failure_spike: 8 successes 90 s back (baseline period), then 15
  // failures in the last 42 s: under error_min and never 10 within 10 s, so
  // it is not an error_ip too
  for (let i = 0; i < 8; i++) out.push({ ts: t - 95_000 + i * 1_000, ip: spikeIp, status: 200, service: svc, latencyMs: 9 });
  for (let i = 0; i < 15; i++) out.push({ ts: t - 42_000 + i * 3_000, ip: spikeIp, status: 503, service: svc, latencyMs: 1 });
  // An earlier error burst that lapses long before the end: a replay's
  // history shows it, the findings at the end of the log do not.
  if (o.spanMs >= 300_000) {
    for (let i = 0; i < 30; i++)
      out.push({ ts: start + 30_000 + i * 300, ip: ATTACK.earlyErrorIp, status: 404, service: 'billing', latencyMs: 2 });
  }
  return out.sort((a, b) => a.ts + (a.latencyMs ?? 0) - (b.ts + (b.latencyMs ?? 0)));
}

/** Lines of a Kong file-log: one JSON object per line. */
export function* fileLogLines(requests: Iterable<Request>): Generator<string> {
  for (const r of requests) yield `${JSON.stringify(kongLogObject(r))}\n`;
}
