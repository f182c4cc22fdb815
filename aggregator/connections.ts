// One client cannot hold the door: a cap on connections per client address
// (IPv6 grouped by /64, as IP keys are: an attacker has a whole /64), short
// idle and header timeouts, and a deadline for the whole request, body
// included. Node's own requestTimeout does not cut a chunked body that keeps
// trickling in (measured on node 20: still open after 8 s with a 1 s
// timeout), hence the per-request timer here.
import { maxHeaderSize } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError, FastifyInstance, FastifyRequest } from 'fastify';
import { ipKey } from '../common/ip-key';

export interface ConnectionLimits {
  /** connections one client address (IPv6: its /64) may hold at once */
  maxPerAddress: number;
  /** a request, headers and body, must arrive whole within this, ms */
  requestTimeoutMs: number;
  /** the headers must arrive within this, ms */
  headersTimeoutMs: number;
  /** an idle keep-alive connection is closed after this, ms */
  idleTimeoutMs: number;
}

/** the aggregator's own deadline (below), as answered and as the refusal log names it */
export const TIMEOUT_ERROR = 'request not received whole within SIEM_REQUEST_TIMEOUT_MS';

const REASONS: Readonly<Record<number, string>> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** An answer written straight to the socket (no fastify reply exists, or it would come too late), closing the connection. */
function answerRaw(socket: Socket, status: 400 | 408 | 431, error: string): void {
  const body = JSON.stringify({ error });
  socket.write(
    `HTTP/1.1 ${status} ${REASONS[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
/** at most one log line per this period about refused connections */
const REFUSAL_LOG_MS = 10_000;

/**
 * Node's own refusals, before fastify has a request (its default handler
 * answered `{"error":"Request Timeout","message":"Client Timeout",...}`):
 * the body docs/api.md promises, `{"error": "..."}` naming what to change.
 */
export function clientErrorHandler(this: FastifyInstance, err: ConnectionError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status: 400 | 408 | 431;
  let error: string;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    // node's headersTimeout and requestTimeout both end here, with one code
    [status, error] = [
      408,
      'request not received in time (its headers within SIEM_HEADERS_TIMEOUT_MS, all of it within SIEM_REQUEST_TIMEOUT_MS)',
    ];
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    [status, error] = [431, `request headers over ${maxHeaderSize} bytes (Node.js's limit)`];
  } else {
    [status, error] = [400, `malformed HTTP request (${err.code ?? 'parse error'})`];
  }
  this.log.trace({ err }, 'client error');
  if (socket.writable) answerRaw(socket, status, error);
  socket.destroy(err);
}

/** The client a socket counts against: its IP key at /64, the raw text when that fails. */
export function connectionClient(remote: string | undefined): string {
  if (!remote) return '';
  return ipKey(remote, 64) ?? remote;
}

/** `onTimeout`: told of each request answered 408 here (its answer bypasses fastify's hooks) */
export function guardConnections(app: FastifyInstance, limits: ConnectionLimits, onTimeout?: (req: FastifyRequest) => void): void {
  const server = app.server;
  server.keepAliveTimeout = limits.idleTimeoutMs;
  server.headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);

  const open = new Map<string, number>();
  let refused = 0;
  let lastLog = 0;
  server.on('connection', (socket: Socket) => {
    const client = connectionClient(socket.remoteAddress);
    const n = (open.get(client) ?? 0) + 1;
    if (n > limits.maxPerAddress) {
      socket.destroy();
      refused++;
      const now = Date.now();
      if (now - lastLog >= REFUSAL_LOG_MS) {
        lastLog = now;
        app.log.warn(
          { client, refused, max_per_address: limits.maxPerAddress },
          'connections refused: per-address cap (SIEM_MAX_CONNECTIONS_PER_IP)',
        );
        refused = 0;
      }
      return;
    }
    open.set(client, n);
    socket.once('close', () => {
      const left = (open.get(client) ?? 1) - 1;
      if (left <= 0) open.delete(client);
      else open.set(client, left);
    });
  });

  // The deadline runs from the moment the request's headers are parsed; a
  // body still incomplete then is answered 408 and the connection closed.
  // Node's own requestTimeout (from the request's first byte, checked
  // periodically) may answer 408 first, through fastify's clientError handler.
  const waiting = new WeakMap<Socket, FastifyRequest>();
  // first among the listeners: fastify's destroys the socket
  server.prependListener('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const req = waiting.get(socket);
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && req && !socket.destroyed) onTimeout?.(req);
  });
  app.addHook('onRequest', (req, reply, done) => {
    const raw = req.raw;
    if (raw.complete) return done();
    waiting.set(raw.socket, req);
    const timer = setTimeout(() => {
      if (raw.complete) return;
      const socket = raw.socket;
      if (!reply.raw.headersSent && socket.writable) {
        onTimeout?.(req);
        answerRaw(socket, 408, TIMEOUT_ERROR);
      }
      socket.destroy();
    }, limits.requestTimeoutMs);
    timer.unref();
    const clear = () => {
      clearTimeout(timer);
      if (waiting.get(raw.socket) === req) waiting.delete(raw.socket);
    };
    raw.once('end', clear);
    raw.once('close', clear);
    reply.raw.once('finish', clear);
    done();
  });
}
