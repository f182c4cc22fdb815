// Realistic serialized Kong log objects, shaped as Kong 3.9's
// kong.log.serialize() returns them (Kong/kong kong/pdk/log.lua): full service, route
// and consumer entities, headers as Kong gives them (lower-case names, arrays
// for repeated headers, authorization REDACTED), latencies, tries, workspace.
import { randomUUID } from 'node:crypto';

export interface LogShape {
  ip?: string;
  status?: number;
  startedAt?: number;
  method?: string;
  host?: string;
  /** service name; null: an unnamed service (id only); undefined with noService: no service matched */
  service?: string | null;
  noService?: boolean;
  route?: string | null;
  /** consumer username; null: no consumer */
  consumer?: string | null;
  consumerId?: string;
  /** authenticated credential id; null: none */
  credentialId?: string | null;
  headers?: Record<string, string | string[]>;
  /** response headers added to (or replacing) the usual ones */
  responseHeaders?: Record<string, string | string[]>;
  latencyMs?: number;
}

const WS = '0dc6f45b-8f8d-40d2-a504-473544ee190b';

function entityId(seed: string): string {
  // Stable ids per name keep fixtures readable in failure output.
  const hex = Buffer.from(seed.padEnd(16, '.')).toString('hex').slice(0, 32).padEnd(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export function serviceEntity(name: string | null): Record<string, unknown> {
  return {
    id: entityId(`svc-${name ?? 'unnamed'}`),
    ...(name !== null && { name }),
    host: 'echo',
    port: 80,
    protocol: 'http',
    path: `/${name ?? 'x'}`,
    retries: 5,
    connect_timeout: 60000,
    read_timeout: 60000,
    write_timeout: 60000,
    enabled: true,
    created_at: 1717790000,
    updated_at: 1717790000,
    ws_id: WS,
  };
}

export function kongLog(s: LogShape = {}): Record<string, unknown> {
  const startedAt = s.startedAt ?? Date.now();
  const host = s.host ?? 'api.example.com';
  const method = s.method ?? 'GET';
  const serviceName = s.service === undefined ? 'orders' : s.service;
  const routeName = s.route === undefined ? `${serviceName ?? 'unnamed'}-v1` : s.route;
  const consumerName = s.consumer === undefined ? null : s.consumer;
  const consumerId = s.consumerId ?? entityId(`consumer-${consumerName ?? ''}`);
  const latency = s.latencyMs ?? 20;
  const log: Record<string, unknown> = {
    request: {
      id: randomUUID().replace(/-/g, ''),
      uri: `/${serviceName ?? 'x'}/items?page=2`,
      url: `http://${host}:8000/${serviceName ?? 'x'}/items?page=2`,
      querystring: { page: '2' },
      method,
      headers: {
        host,
        'user-agent': 'curl/8.5.0',
        accept: '*/*',
        authorization: 'REDACTED',
        'x-forwarded-for': ['10.0.0.1', '10.0.0.2'],
        ...s.headers,
      },
      size: 112,
    },
    upstream_uri: '/items?page=2',
    upstream_status: String(s.status ?? 200),
    response: {
      status: s.status ?? 200,
      headers: {
        'content-type': 'application/json',
        'content-length': '17',
        via: '1.1 kong/3.9.0',
        'x-kong-request-id': 'f1e2d3',
        ...s.responseHeaders,
      },
      size: 412,
    },
    latencies: { kong: 2, proxy: latency - 3, request: latency, receive: 1 },
    tries: [
      {
        ip: '172.18.0.5',
        port: 80,
        balancer_start: startedAt + 1,
        balancer_start_ns: (startedAt + 1) * 1e6,
        balancer_latency: 0,
        balancer_latency_ns: 5000,
      },
    ],
    client_ip: s.ip ?? '203.0.113.7',
    started_at: startedAt,
    source: (s.status ?? 200) >= 500 && s.status !== 502 ? 'kong' : 'upstream',
    workspace: WS,
    workspace_name: 'default',
  };
  if (!s.noService) log.service = serviceEntity(serviceName);
  if (!s.noService && routeName !== null) {
    log.route = {
      id: entityId(`route-${routeName}`),
      name: routeName,
      paths: [`/${serviceName ?? 'x'}`],
      protocols: ['http', 'https'],
      methods: null,
      strip_path: true,
      preserve_host: false,
      regex_priority: 0,
      https_redirect_status_code: 426,
      path_handling: 'v0',
      request_buffering: true,
      response_buffering: true,
      service: { id: entityId(`svc-${serviceName ?? 'unnamed'}`) },
      created_at: 1717790000,
      updated_at: 1717790000,
      ws_id: WS,
    };
  }
  if (consumerName !== null) {
    log.consumer = { id: consumerId, username: consumerName, custom_id: null, tags: null, created_at: 1717790000, updated_at: 1717790000 };
  }
  if (s.credentialId) log.authenticated_entity = { id: s.credentialId, consumer_id: consumerId };
  return log;
}

/**
 * An anonymous request as Kong 3.9 logs it when an auth plugin's `anonymous`
 * option let it through: the anonymous consumer, no authenticated_entity,
 * and `x-anonymous-consumer: true` set on the request (kong/plugins/*-auth).
 */
export function anonymousKongLog(s: Omit<LogShape, 'credentialId'> = {}): Record<string, unknown> {
  return kongLog({ consumer: 'anonymous', ...s, credentialId: null, headers: { 'x-anonymous-consumer': 'true', ...s.headers } });
}

/** A log of Kong's stream subsystem (a TCP/TLS route), shaped as kong/pdk/log.lua serializes it: `session`, no request or response. */
export function kongStreamLog(s: { ip?: string; startedAt?: number; service?: string } = {}): Record<string, unknown> {
  const startedAt = s.startedAt ?? Date.now();
  return {
    session: { tls: null, received: 517, sent: 3021, status: 200, server_port: 5555 },
    upstream: { received: 3021, sent: 517 },
    latencies: { kong: 1, session: 1250 },
    tries: [{ ip: '172.18.0.9', port: 5432, balancer_start: startedAt + 1, balancer_latency: 0 }],
    route: { id: entityId('route-tcp'), name: 'tcp-v1', protocols: ['tcp'], destinations: [{ port: 5555 }], ws_id: WS },
    service: serviceEntity(s.service ?? 'postgres'),
    client_ip: s.ip ?? '203.0.113.7',
    started_at: startedAt,
    workspace: WS,
    workspace_name: 'default',
  };
}

/**
 * A gRPC call (HTTP/2 POST, application/grpc) as Kong 3.9 logs it. An error
 * from the gRPC service is a trailers-only response: HTTP 200 with
 * `grpc-status` (and `grpc-message`) among the response headers.
 */
export function grpcKongLog(grpcStatus: number, s: LogShape = {}): Record<string, unknown> {
  return kongLog({
    method: 'POST',
    ...s,
    headers: { 'content-type': 'application/grpc', te: 'trailers', ...s.headers },
    responseHeaders: { 'content-type': 'application/grpc', 'grpc-status': String(grpcStatus), ...s.responseHeaders },
  });
}
