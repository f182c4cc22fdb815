// From Kong's serialized log object (`kong.log.serialize()`, which is also
// what the bundled http-log and file-log plugins send) to a SiemRecord, with
// the field mapping of docs/api.md ("Kong's http-log") and
// docs/configuration.md ("Record building"). Shared by the plugin,
// the /v1/kong-log endpoint and `kong-siem replay`, so all three agree.
import { fingerprint } from './fingerprint';
import { STRING_MAX, truncateCodePoints, wellFormed, withinCodePoints } from './limits';
import { UNMATCHED_SERVICE, type SiemRecord } from './record';
import { outcomeOf, type SuccessByRoute } from './success-statuses';

export type CredentialSource = 'auto' | 'credential' | 'consumer' | 'header';
export const CREDENTIAL_SOURCES: readonly CredentialSource[] = Object.freeze(['auto', 'credential', 'consumer', 'header']);
export const DEFAULT_CREDENTIAL_HEADER = 'x-auth-sub';
/**
 * Headers Kong's serializer always replaces by `REDACTED` (kong/pdk/log.lua):
 * as a credential source every client would share the one value "REDACTED".
 */
export const REDACTED_HEADERS: readonly string[] = Object.freeze(['authorization', 'proxy-authorization']);
/** Request header Kong's auth plugins set to `true` when their `anonymous` consumer stands in. */
export const ANONYMOUS_HEADER = 'x-anonymous-consumer';

/** Marks the request headers in KONG_LOG_FIELDS: read by name (KONG_LOG_HEADERS and the credential header), any case. */
export const HEADERS = 'headers';
export type KongLogFields = { readonly [key: string]: true | typeof HEADERS | KongLogFields };

/**
 * Every field of a Kong log object this mapping reads (recordFromKongLog,
 * isStreamLog and what they call): `true` a value, an object the fields read
 * inside it, HEADERS the request headers. Replay's scanner keeps exactly
 * these and builds its log objects from them; a test proves the mapping
 * reads nothing else, so a field added here reaches every reader at once.
 */
export const KONG_LOG_FIELDS: KongLogFields = {
  client_ip: true,
  started_at: true,
  namespace: true,
  request_uri_host: true,
  request: { method: true, headers: HEADERS },
  response: { status: true, headers: { 'grpc-status': true } },
  service: { name: true, id: true },
  route: { name: true, id: true },
  consumer: { username: true, custom_id: true, id: true },
  authenticated_entity: { id: true },
  latencies: { request: true },
  session: { status: true },
} as const;

/** Request headers the mapping reads besides the credential header. */
export const KONG_LOG_HEADERS: readonly string[] = Object.freeze(['host', ANONYMOUS_HEADER]);

/** Whether `name` is a header Kong redacts in its logs, so never a credential source (any case). */
export const isRedactedHeader = (name: string): boolean => REDACTED_HEADERS.includes(name.toLowerCase());

export interface RecordOptions {
  credentialSource: CredentialSource;
  /** request header read by the `header` source (any case) */
  credentialHeader: string;
  /** send a fingerprint instead of the credential */
  hashCredentials: boolean;
  /** HMAC key of the fingerprint; plain SHA-256 when unset */
  hashKey?: string;
  /** the plugin's `success_statuses`: successes for every record it builds (empty: the status rule) */
  successStatuses?: ReadonlySet<number>;
  /** successes per route name or id (/v1/kong-log, replay), when `successStatuses` is not set */
  successByRoute?: SuccessByRoute;
  /** the credential as read, whatever its length, never fingerprinted (a caller that fingerprints it itself: replay) */
  rawCredential?: boolean;
}

export const DEFAULT_RECORD_OPTIONS: Readonly<RecordOptions> = Object.freeze({
  credentialSource: 'auto',
  credentialHeader: DEFAULT_CREDENTIAL_HEADER,
  hashCredentials: true,
});

type Obj = Record<string, unknown>;

const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);

/** A non-empty string (numbers as text: ids are sometimes numeric), well-formed, whole. */
function wholeText(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) v = String(v);
  if (typeof v !== 'string' || v.length === 0) return undefined;
  return wellFormed(v);
}

/** wholeText capped at STRING_MAX code points: context shown in findings. */
function text(v: unknown): string | undefined {
  const t = wholeText(v);
  return t === undefined ? undefined : truncateCodePoints(t, STRING_MAX);
}

/** First value of a header (capped as `text`, or whole): Kong gives a string, or an array when repeated. */
export function headerValue(headers: unknown, name: string, whole = false): string | undefined {
  const h = obj(headers);
  if (!h) return undefined;
  const want = name.toLowerCase();
  let v = h[want];
  if (v === undefined) {
    for (const k of Object.keys(h)) if (k.toLowerCase() === want) v = h[k];
  }
  const first = Array.isArray(v) ? v[0] : v;
  return whole ? wholeText(first) : text(first);
}

/**
 * An auth plugin's `anonymous` consumer: Kong authenticates it with no
 * credential (no `authenticated_entity`) and sets `x-anonymous-consumer: true`
 * on the request. Every unauthenticated client shares it, so it is no
 * credential: taken as one, it would be one credential used from every IP.
 * Only with a consumer: a client can send the header itself, and where no
 * auth plugin ran (no consumer) Kong leaves it as sent, so the header alone
 * would let any client hide its `header` credential from credential_ips.
 */
export function isAnonymous(log: Obj): boolean {
  if (text(obj(log.authenticated_entity)?.id) !== undefined) return false;
  const c = obj(log.consumer);
  if (text(c?.id) === undefined && text(c?.username) === undefined && text(c?.custom_id) === undefined) return false;
  return headerValue(obj(log.request)?.headers, ANONYMOUS_HEADER)?.toLowerCase() === 'true';
}

/**
 * A log of Kong's stream subsystem (TCP/TLS routes): `session` with its
 * status, and no HTTP `response`. Not a request record, and not a malformed
 * one either: counted apart (reason `stream`).
 */
export function isStreamLog(input: unknown): boolean {
  const log = obj(input);
  return log !== undefined && obj(log.response) === undefined && obj(log.session)?.status !== undefined;
}

/**
 * The raw credential per `source`, before any hashing; none for the anonymous
 * consumer, whatever the source. Whole, never cut: two long tokens sharing a
 * prefix stay two credentials (the length check comes after the fingerprint,
 * and refuses a raw credential over the limit).
 */
export function rawCredential(log: Obj, source: CredentialSource, header: string): string | undefined {
  if (isAnonymous(log)) return undefined;
  const fromCredential = () => wholeText(obj(log.authenticated_entity)?.id);
  const fromConsumer = () => {
    const c = obj(log.consumer);
    return wholeText(c?.username) ?? wholeText(c?.id);
  };
  const fromHeader = () => headerValue(obj(log.request)?.headers, header, true);
  switch (source) {
    case 'credential':
      return fromCredential();
    case 'consumer':
      return fromConsumer();
    case 'header':
      return fromHeader();
    default:
      return fromCredential() ?? fromConsumer() ?? fromHeader();
  }
}

/**
 * The credential a record carries: its fingerprint with `hash`, else the raw
 * value, except one over STRING_MAX code points, which is fingerprinted too.
 * Ingest refuses a record whose string is over its length: with the raw
 * value, a client choosing a long credential header would have every record
 * of its own refused, its failures hidden from every rule. Whole, never cut:
 * two long tokens sharing a prefix stay two credentials.
 */
export function credentialValue(raw: string, hash: boolean, key?: string): string {
  return hash || !withinCodePoints(raw, STRING_MAX) ? fingerprint(raw, key) : raw;
}

/** The route's list, looked up by name, then by id. */
function routeSuccesses(byRoute: SuccessByRoute | undefined, route: Obj | undefined): ReadonlySet<number> | undefined {
  if (byRoute === undefined || byRoute.size === 0 || route === undefined) return undefined;
  const name = text(route.name);
  const id = text(route.id);
  return (name !== undefined ? byRoute.get(name) : undefined) ?? (id !== undefined ? byRoute.get(id) : undefined);
}

function integer(v: unknown): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? Math.trunc(n) : undefined;
}

/**
 * HTTP status per gRPC status code 0-16: the inverse of Kong's own table
 * (kong/pdk/response.lua HTTP_TO_GRPC_STATUS), the other codes as
 * grpc-gateway maps them. A code past 16 is UNKNOWN (2) to gRPC clients.
 */
export const GRPC_HTTP_STATUS: readonly number[] = Object.freeze([
  200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401,
]);

/**
 * The status a gRPC answer gave its client. A gRPC service answers an error
 * (UNAUTHENTICATED to a wrong token, UNIMPLEMENTED to a probed method) with
 * HTTP 200 and `grpc-status` in the response headers (a trailers-only
 * response), so Kong logs 200: counted as it is, every such failure was a
 * success. Kong's own answers on gRPC routes (an auth plugin's 401) already
 * carry their HTTP status: only a 200 is mapped. A status in the trailers
 * (an error after messages) is not in Kong's log.
 */
function grpcStatus(status: number, response: Obj | undefined): number {
  if (status !== 200) return status;
  const v = obj(response?.headers)?.['grpc-status'];
  const code = integer(Array.isArray(v) ? v[0] : v);
  if (code === undefined || code <= 0) return status;
  return GRPC_HTTP_STATUS[code] ?? 500;
}

/**
 * Build a record from a serialized log object. Returns undefined (never
 * throws) when the object lacks what every record needs: client IP, status,
 * start time. Validation of values (IP syntax, status range) is the
 * aggregator's, so a bad value is rejected and counted there, not hidden here.
 */
export function recordFromKongLog(input: unknown, o: Readonly<RecordOptions> = DEFAULT_RECORD_OPTIONS): SiemRecord | undefined {
  const log = obj(input);
  if (!log) return undefined;
  const request = obj(log.request);
  const response = obj(log.response);
  const ip = text(log.client_ip);
  const httpStatus = integer(response?.status);
  const ts = integer(log.started_at);
  if (ip === undefined || httpStatus === undefined || ts === undefined) return undefined;
  const status = grpcStatus(httpStatus, response);

  const service = obj(log.service);
  const rec: SiemRecord = {
    ts,
    ip,
    status,
    // `namespace` (top level) is the service key of logs enriched for the seed
    // pipeline (API Programme Services' Flink job); stock Kong logs have no
    // such field, so for them this changes nothing.
    service: text(service?.name) ?? text(service?.id) ?? text(log.namespace) ?? UNMATCHED_SERVICE,
  };
  const raw = rawCredential(log, o.credentialSource, o.credentialHeader);
  if (raw !== undefined) rec.credential = o.rawCredential ? raw : credentialValue(raw, o.hashCredentials, o.hashKey);
  const consumer = obj(log.consumer);
  const consumerName = text(consumer?.username) ?? text(consumer?.custom_id) ?? text(consumer?.id);
  if (consumerName !== undefined) rec.consumer = consumerName;
  // `request_uri_host` (top level): the seed pipeline's enriched field.
  const host = headerValue(request?.headers, 'host') ?? text(log.request_uri_host);
  if (host !== undefined) rec.host = host;
  const route = obj(log.route);
  const routeName = text(route?.name) ?? text(route?.id);
  if (routeName !== undefined) rec.route = routeName;
  const successes = o.successStatuses?.size ? o.successStatuses : routeSuccesses(o.successByRoute, route);
  const outcome = outcomeOf(status, successes);
  if (outcome !== undefined) rec.outcome = outcome;
  const method = text(request?.method);
  if (method !== undefined) rec.method = method;
  const latency = obj(log.latencies)?.request;
  if (typeof latency === 'number' && Number.isFinite(latency) && latency >= 0) rec.latency_ms = latency;
  return rec;
}
